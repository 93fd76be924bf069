//! The workers (Envoy's threading model): each a thread with its own runtime and its own VM
//! per plugin; a request stays on the worker that accepted it, so its path takes no lock.
//!
//! - `thread`: a worker thread's loop: accept, serve, take new generations.
//! - `serving`: what a worker serves one generation with.
//! - `pool`: one plugin's VMs on one worker: the first, and spares while every VM is in a
//!   long guest call.
//! - `slot`: one plugin's VM on one worker: held streams, callout answers, ticks, queue
//!   notices, the rebuild after a crash (off the request path, with a backoff).
//! - `cell`: the lock a guest call holds on its VM, which other tasks wait for.
//! - `health`: whether a slot's VM serves, is rebuilt or is down; the backoff between
//!   rebuilds.

pub(crate) mod cell;
pub(crate) mod health;
pub(crate) mod pool;
pub(crate) mod serving;
pub(crate) mod slot;
pub(crate) mod thread;
