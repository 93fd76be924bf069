//! wasmgate-proxy: the HTTP data plane, laid out by a request's walk.
//!
//! - [`config`]: what a gateway runs: types, the `wasmgate.yaml` loader, Higress
//!   `WasmPlugin` resources, `_rules_`.
//! - `edge`: listeners, client connections, what the gateway does to a request before the
//!   plugins (forwarded headers, request id).
//! - `chain`: a request's walk through the plugin chain and the upstream.
//! - `upstream`: clusters, the HTTP client (plain or TLS), one upstream exchange, resets.
//! - `callouts`: plugins' HTTP and Redis calls.
//! - `worker`: worker threads, what each serves, one plugin VM per worker (`slot`).
//! - `control`: configuration generations, compiling plugins, reloads, tier-up.
//! - `gateway`: [`Gateway`]: starting, reloading and stopping it.
//! - `admin`: `/metrics`, `/healthz`, `/ready`.
//! - [`metrics`]: request counters, latency histograms and plugin metrics.
//! - `access_log`: the access log line.
//! - `grpc`: gRPC requests, timeouts, statuses and trailers-only replies.
//! - `body`, `headers`: the body type the gateway sends; hyper's heads to the plugins'
//!   header maps and back.
//! - [`echo`]: an upstream that answers with what it received.
//! - [`export`]: a configuration written for Envoy (a bootstrap) and for Higress
//!   (`WasmPlugin`, `Ingress`, `McpBridge` resources).
//! - `pem`: certificate, CA and key files, and what is wrong with one.
//! - `error`: [`GatewayError`].

mod access_log;
mod admin;
mod body;
mod callouts;
mod chain;
pub mod config;
mod control;
pub mod echo;
mod edge;
mod error;
pub mod export;
mod gateway;
mod grpc;
mod headers;
pub mod metrics;
mod pem;
mod upstream;
mod worker;

pub use config::{
    default_fetch_settings, load as load_config, parse as parse_config, AccessLog, CertificateSpec,
    ClusterSpec, ConfigError, EdgeLimits, FailPolicy, GatewayConfig, HeaderMatch, ListenerSpec,
    ListenerTls, PathMatch, Phase, PluginLogs, PluginSpec, Query, QueryMatch, RouteSpec,
    UpstreamProtocol, ValueMatch,
};
pub use echo::EchoServer;
pub use error::GatewayError;
pub use gateway::Gateway;
pub use upstream::{Clusters, Endpoint};

/// The HTTP/1.1 request check in front of hyper, for the fuzz target: what hyper reads from
/// a client that sends some parts, and the refused request.
#[doc(hidden)]
pub use edge::checked::read_through as read_http1_through_the_check;
