//! Configuration generations and how they change: compiling and checking one, handing it to
//! the workers (a reload builds new VMs beside the old ones; requests in flight finish on
//! theirs), and the move from baseline to optimized code.
//!
//! - `plugins`: compiling the plugin chain once for the whole gateway.
//! - `generation`: one checked generation.
//! - `rollout`: handing a generation to every worker.
//! - `tier_up`: the move to optimized code once it is cached.

pub(crate) mod generation;
pub(crate) mod plugins;
pub(crate) mod rollout;
pub(crate) mod tier_up;
