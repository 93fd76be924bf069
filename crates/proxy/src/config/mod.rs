//! What a gateway runs, and where it comes from.
//!
//! - `spec`: the checked configuration: listeners, clusters, routes, the plugin chain; route
//!   matching.
//! - `listeners`: listeners (plain or TLS) and the limits client connections are held to.
//! - `listen`: the `listen:` and `edge:` parts of a `wasmgate.yaml`.
//! - `route_match`: what a route matches besides domains and path: method, headers, query.
//! - `routes`: the `routes:` of a `wasmgate.yaml`, checked into [`RouteSpec`]s.
//! - `upgrades`: which HTTP upgrades (WebSocket, …) go through, gateway-wide and per route.
//! - `file`: `wasmgate.yaml`, checked before anything starts.
//! - `wasmplugin`: Higress `WasmPlugin` resources a file refers to.
//! - `source`: where a plugin's wasm comes from: a file, an `oci://` image or an
//!   `http(s)://` URL fetched into the cache (`images:` settings, pull secrets).
//! - `entry`: what every plugin entry shares (order, wasm check, config object).
//! - `rules`: the `_rules_` JSON Higress's controller builds from match rules.
//! - `secrets`: `${secret.…}` references in plugin configurations, filled from the
//!   `secrets:` store (files, environment variables), as Higress fills them.
//! - `error`: [`ConfigError`] with file and line.

mod entry;
mod error;
mod file;
mod listen;
mod listeners;
mod route_match;
mod routes;
mod rules;
mod secrets;
mod source;
mod spec;
mod upgrades;
mod wasmplugin;

pub use error::ConfigError;
pub use file::{load, parse};
pub use listeners::{CertificateSpec, EdgeLimits, ListenerSpec, ListenerTls};
pub use route_match::{HeaderMatch, Query, QueryMatch, ValueMatch};
pub use source::default_fetch_settings;
pub use spec::{
    domain_matches, AccessLog, ClusterSpec, FailPolicy, GatewayConfig, PathMatch, Phase,
    PluginLogs, PluginSpec, RouteSpec, UpstreamProtocol, RUN_CLUSTER,
};
pub use upgrades::{default_upgrades, upgrade_allowed, UpgradeSpec};
