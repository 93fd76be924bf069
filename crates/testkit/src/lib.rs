//! wasmgate-testkit: test a proxy-wasm plugin in-process.
//!
//! - [`host`]: [`TestHost`], one plugin VM with one request at a time, callouts recorded and
//!   answered by the test, logs captured; `builder` ([`TestHostBuilder`]) sets one up, and
//!   `recorder` keeps what the plugin did.
//! - [`scenario`]: declarative YAML scenarios (`wasmgate test`), for plugins in any language.
//! - [`build`]: builds a Rust plugin crate for `wasm32-wasip1`, for the crate's own tests.
//! - [`examples`]: builds the repository's example plugins on first use (for this
//!   project's own tests).

pub mod build;
mod builder;
pub mod examples;
pub mod host;
mod recorder;
pub mod scenario;

pub use builder::TestHostBuilder;
pub use host::{Phase, StreamState, TestHost};
pub use recorder::GrpcMove;
pub use wasmgate_host::{
    abi::{GrpcCode, LogLevel},
    GrpcCallout, GrpcEvent, GrpcStreamOpen, GrpcTarget, HeaderMap, HostError, HttpCallout,
    HttpCalloutResponse, LocalReply, RedisCallout, RedisInit,
};
pub use wasmgate_host::{shared::Metric, LogRecord};
