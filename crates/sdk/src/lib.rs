//! # wasmgate-sdk
//!
//! Write Higress-compatible proxy-wasm plugins in Rust, with everything Higress's Go SDK
//! (`wasm-go`) offers: declarative registration, serde configs with Higress's multi-level
//! `_rules_`, handlers for every HTTP phase (buffered or streaming bodies), an HTTP client
//! with Higress's cluster names, a Redis client, ticks, leader election and user-attribute
//! logging, plus `async`/`.await` for callouts.
//!
//! ```no_run
//! use wasmgate_sdk::prelude::*;
//!
//! #[derive(Deserialize, Default)]
//! struct MyConfig {
//!     #[serde(rename = "mockEnable", default)]
//!     mock_enable: bool,
//! }
//!
//! fn on_request_headers(ctx: &HttpContext, config: &MyConfig) -> Result<HeaderAction> {
//!     ctx.add_request_header("hello", "world")?;
//!     if config.mock_enable {
//!         return ctx.send_response(200, &[], "hello world");
//!     }
//!     Ok(HeaderAction::Continue)
//! }
//!
//! wasmgate_sdk::plugin! { name: "my-plugin", config: MyConfig, on_request_headers }
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip1` and a `cdylib` crate type.
//!
//! ## Modules
//! - [`plugin`](mod@plugin): the [`Plugin`] builder behind [`plugin!`]; [`start`] and
//!   [`runtime`] say what the SDK does at the start and in each phase.
//! - [`context`]: [`HttpContext`], one request in every phase and in callbacks; its
//!   [`headers_and_bodies`], [`attributes`] (user attributes), [`route_call`] and
//!   [`open_response`] (answer now, write the body from any callback later).
//! - [`plugin_context`]: [`PluginContext`], the plugin in the start hook.
//! - [`rules`]: Higress's `_rules_` matching.
//! - [`http`] and [`cluster`]: callouts with callbacks or `.await` (a [`CalloutFuture`]).
//! - [`ai`]: Server-Sent Events parsing and LLM token usage for the `ai_log`.
//! - `mcp` (feature `mcp`): MCP servers with typed tools over streamable HTTP.
//! - [`grpc`]: gRPC calls (callback or `.await`) and streams to a cluster's services.
//! - [`redis`], [`redis_commands`] and [`resp`]: the Redis client (Higress extension), its
//!   commands, RESP encoding and decoding (from `wasmgate-abi`).
//! - [`task`]: the executor for `async` tasks; pausing and resuming requests.
//! - [`tick`]: tick functions and queue callbacks.
//! - [`leader`]: leader election among the plugin's VMs (a shared-data lease).
//! - [`metrics`]: counters, gauges and histograms by name.
//! - [`log`]: the logger and its macros.
//! - [`wasm_go`]: wasm-go's names for what the SDK offers in its own way.
//! - [`raw`]: every host function, returning [`Result`].
//!
//! Inside the crate, dependencies point one way: `raw` and `state` at the bottom, then
//! `context` and the modules that add to it, the clients, and `runtime` and `exports` on top.

#![warn(missing_docs)]

pub mod ai;
pub mod attributes;
pub mod cluster;
pub mod context;
mod definition;
mod dispatch;
pub mod error;
mod exports;
pub mod grpc;
pub mod headers_and_bodies;
pub mod http;
pub mod leader;
pub mod log;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod metrics;
pub mod open_response;
pub mod outcome;
mod panic;
pub mod plugin;
pub mod plugin_context;
pub mod raw;
pub mod redis;
pub mod redis_commands;
pub mod response;
pub mod route_call;
pub mod rules;
pub mod runtime;
pub mod start;
mod state;
pub mod task;
pub mod tick;
mod url;
mod waiter;
pub mod wasm_go;

pub use wasmgate_abi::resp;

pub use cluster::{
    Cluster, ConsulCluster, DnsCluster, FqdnCluster, K8sCluster, NacosCluster, RouteCluster,
    StaticIpCluster, TargetCluster,
};
pub use context::{HttpContext, Phase, ReplyAction};
pub use error::{Error, Result};
pub use grpc::{GrpcCall, GrpcClient, GrpcStream, GrpcStreamEvent};
pub use http::{HttpClient, HttpRequest};
pub use metrics::{Counter, Gauge, Histogram};
pub use plugin::{NoConfig, Plugin};
pub use plugin_context::PluginContext;
pub use redis::{RedisClient, RedisOptions, RedisRequest};
pub use resp::RespValue;
pub use response::HttpResponse;
pub use rules::ConfigError;
pub use start::StartError;
pub use tick::Tick;
pub use waiter::CalloutFuture;
pub use wasmgate_abi::{DataAction, GrpcCode, HeaderAction, LogLevel};

/// What most plugins need: `use wasmgate_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::cluster::{
        Cluster, ConsulCluster, DnsCluster, FqdnCluster, K8sCluster, NacosCluster, RouteCluster,
        StaticIpCluster, TargetCluster,
    };
    pub use crate::context::{HttpContext, Phase, ReplyAction};
    pub use crate::error::{Error, Result};
    pub use crate::grpc::{GrpcClient, GrpcStream, GrpcStreamEvent};
    pub use crate::http::HttpClient;
    pub use crate::metrics::{Counter, Gauge, Histogram};
    pub use crate::plugin::{NoConfig, Plugin};
    pub use crate::plugin_context::PluginContext;
    pub use crate::redis::{RedisClient, RedisOptions};
    pub use crate::resp::RespValue;
    pub use crate::response::HttpResponse;
    pub use crate::tick::Tick;
    pub use crate::{critical, debug, error, info, trace, warn};
    pub use serde::Deserialize;
    pub use serde_json::{json, Value};
    pub use wasmgate_abi::{DataAction, GrpcCode, HeaderAction, LogLevel};
}

#[doc(hidden)]
pub mod __private {
    pub use crate::plugin::{ParserProbe, ViaSerde, WithoutSerde};
    pub use std::marker::PhantomData;
}

/// Declares the plugin: its name, its config type (optional: [`NoConfig`] by default) and
/// its handlers and options, each as `key` (a function of the same name) or `key: value`.
///
/// ```ignore
/// wasmgate_sdk::plugin! {
///     name: "my-plugin",
///     config: MyConfig,
///     on_request_headers,                      // fn on_request_headers(ctx, &MyConfig)
///     on_response_headers: add_cors_headers,   // any function or closure
///     parse: parse_my_config,                  // fn(&Value) -> Result<MyConfig, E>
///     rebuild_after_requests: 1000,
/// }
/// ```
///
/// Keys are the [`Plugin`] builder methods: `parse`, `parse_override`, `merge_rules: true`,
/// `validate`, `on_plugin_start`, `on_request_headers`, `on_request_body`,
/// `on_streaming_request_body`, `on_response_headers`, `on_response_body`,
/// `on_streaming_response_body`, `on_stream_done`, `rebuild_after_requests`,
/// `rebuild_max_memory_bytes`, `max_requests_per_io_cycle`.
///
/// The config type is parsed with serde when it implements `Deserialize`; otherwise give
/// `parse`. The macro defines the module's `_initialize`, which registers the plugin.
#[macro_export]
macro_rules! plugin {
    (name: $name:expr, config: $config:ty $(, $key:ident $(: $value:expr)?)* $(,)?) => {
        $crate::entry!({
            #[allow(unused_imports)]
            use $crate::__private::{ViaSerde as _, WithoutSerde as _};
            let parser = (&$crate::__private::ParserProbe::<$config>($crate::__private::PhantomData))
                .default_parser();
            $crate::Plugin::<$config>::with_parser_option($name, parser)
                $( .$key($crate::__plugin_value!($key $(, $value)?)) )*
                .register();
        });
    };
    (name: $name:expr $(, $key:ident $(: $value:expr)?)* $(,)?) => {
        $crate::plugin! { name: $name, config: $crate::NoConfig $(, $key $(: $value)?)* }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __plugin_value {
    ($key:ident) => {
        $key
    };
    ($key:ident, $value:expr) => {
        $value
    };
}

/// Defines the module's `_initialize` to run `$body` once when the VM starts; the body must
/// call [`Plugin::register`]. [`plugin!`] uses this; use it directly for a plugin built
/// with the [`Plugin`] builder.
#[macro_export]
macro_rules! entry {
    ($body:block) => {
        #[cfg(target_os = "wasi")]
        extern "C" {
            fn __wasm_call_ctors();
        }

        #[unsafe(no_mangle)]
        pub extern "C" fn _initialize() {
            #[cfg(target_os = "wasi")]
            // SAFETY: the WASI reactor's constructors run once, before anything else.
            unsafe {
                __wasm_call_ctors();
            }
            $body
        }
    };
}
