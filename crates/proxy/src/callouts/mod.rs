//! Plugins' calls to other services: the handler each VM queues its calls through, the task
//! that performs them, and the HTTP, gRPC and Redis clients.
//!
//! - `handler`: [`CalloutHandler`](wasmgate_host::CalloutHandler)s: the workers' and the
//!   start-up check's.
//! - `task`: performs one VM's calls and hands back the answers.
//! - `grpc`: one gRPC call or stream over HTTP/2, its framing and Envoy's failure statuses.
//! - `http`: one HTTP callout.
//! - `redis`: the Redis pool and one command.

mod grpc;
pub(crate) mod handler;
mod http;
mod redis;
pub(crate) mod task;
