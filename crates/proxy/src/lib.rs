//! wasmgate-proxy: the HTTP data plane.
//!
//! - [`config`]: what a gateway runs: listeners, clusters, routes, the plugin chain.
//! - [`file`]: `wasmgate.yaml` and Higress `WasmPlugin` resources, checked with file and line.
//! - [`rules`]: the `_rules_` plugin configuration Higress's controller builds.
//! - [`plugins`]: compiling the plugins once and building their VMs.
//! - [`server`]: worker threads, listeners, reloads, shutdown.
//! - `admin`: `/metrics`, `/healthz`, `/ready`.
//! - [`metrics`]: request counters, latency histograms and plugin metrics.
//! - `slot`: one plugin VM on one worker, with its held streams, ticks and rebuilds.
//! - `chain`: a request's walk through the plugin chain and the upstream; the access log.
//! - `callouts`: the cluster table, HTTP callouts and Redis calls from plugins.
//! - `convert`: between hyper's types and the plugin's header maps.
//! - `tls`: the roots trusted for TLS upstreams and callouts.
//! - [`echo`]: an upstream that answers with what it received.

mod admin;
mod callouts;
mod chain;
pub mod config;
mod convert;
pub mod echo;
pub mod file;
pub mod metrics;
pub mod plugins;
pub mod rules;
pub mod server;
mod slot;
mod tier_up;
mod tls;

pub use callouts::{Clusters, Endpoint};
pub use config::{
    AccessLog, ClusterSpec, GatewayConfig, PathMatch, PluginLogs, PluginSpec, RouteSpec,
};
pub use echo::EchoServer;
pub use file::{load as load_config, parse as parse_config, ConfigError};
pub use server::{Gateway, GatewayError};
