//! Plugins' calls to other services: the handler each VM queues its calls through, the task
//! that performs them, and the HTTP and Redis clients.
//!
//! - `handler`: [`CalloutHandler`](wasmgate_host::CalloutHandler)s: the workers' and the
//!   start-up check's.
//! - `task`: performs one VM's calls and hands back the answers.
//! - `http`: one HTTP callout.
//! - `redis`: the Redis pool and one command.

pub(crate) mod handler;
mod http;
mod redis;
pub(crate) mod task;
