//! wasmgate-host: a proxy-wasm runtime on wasmtime.
//!
//! - [`runtime`]: the wasmtime engine, the linker with every host function, and the epoch
//!   ticker that interrupts runaway plugins.
//! - [`module`]: loading a `.wasm` (with the on-disk compiled-module cache) and reading its
//!   ABI version marker.
//! - [`vm`]: one instance of a plugin: its start-up, its root context, its HTTP streams and
//!   the callout answers it takes.
//! - [`stream`]: the state of one HTTP stream as a plugin sees it (headers, bodies, deferred
//!   actions, per-request properties).
//! - [`shared`]: process-wide shared data, shared queues and metrics.
//! - [`callout`]: the trait through which HTTP, Redis and gRPC callouts leave the host.
//! - `grpc`: the gRPC calls and streams a VM has open, with Envoy's rules for them.
//! - [`inspect`]: what a `.wasm` declares (marker, toolchain, imports, exports).
//! - `hostcalls`: the `env.proxy_*` functions and the sandboxed WASI stdio.
//! - `stacks`: the fiber stacks guest calls run on, kept for reuse.
//! - `clock`: a guest call's time limit and its yields to the embedder's executor
//!   ([`Yielder`], [`block_on`]).
//! - `exports`: the callbacks a module exports; `outcome`: what a callback's result becomes
//!   for the embedder ([`PhaseOutcome`], [`StreamSignal`]).

pub mod callout;
mod clock;
mod error;
mod exports;
mod grpc;
mod hostcalls;
pub mod inspect;
pub mod module;
mod outcome;
pub mod properties;
pub mod runtime;
pub mod shared;
mod stacks;
mod state;
pub mod stream;
pub mod vm;

pub use callout::{
    CalloutHandler, GrpcCallout, GrpcEvent, GrpcStreamOpen, GrpcTarget, HttpCallout,
    HttpCalloutResponse, NoCallouts, RedisCallout, RedisInit,
};
pub use clock::{block_on, Yielder};
pub use error::HostError;
pub use module::PluginModule;
pub use runtime::{Runtime, RuntimeConfig, Tier, VmLimits, QUICK_START_MIN_BYTES};
pub use shared::{QueueInbox, QueueWaker, Shared};
pub use state::{LogRecord, LogSink, TracingLogSink};
pub use stream::{CertificateFacts, HeaderMap, Injected, LocalReply, StreamInfo, TlsFacts};
pub use vm::{PhaseOutcome, PluginVm, StreamSignal, VmConfig};
pub use wasmgate_abi as abi;
