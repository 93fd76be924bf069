//! What a gateway runs, and where it comes from.
//!
//! - `spec`: the checked configuration: listeners, clusters, routes, the plugin chain; route
//!   matching.
//! - `file`: `wasmgate.yaml`, checked before anything starts.
//! - `wasmplugin`: Higress `WasmPlugin` resources a file refers to.
//! - `entry`: what every plugin entry shares (order, wasm check, config object).
//! - `rules`: the `_rules_` JSON Higress's controller builds from match rules.
//! - `error`: [`ConfigError`] with file and line.

mod entry;
mod error;
mod file;
mod rules;
mod spec;
mod wasmplugin;

pub use error::ConfigError;
pub use file::{load, parse};
pub use spec::{
    domain_matches, AccessLog, ClusterSpec, GatewayConfig, PathMatch, PluginLogs, PluginSpec,
    RouteSpec, UpstreamProtocol, RUN_CLUSTER,
};
