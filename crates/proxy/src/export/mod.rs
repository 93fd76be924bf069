//! Exports of a checked [`GatewayConfig`](crate::GatewayConfig) for a fleet: what a user
//! built and ran locally, written for the hosts that run the same plugins at scale.
//!
//! - `envoy`: an Envoy bootstrap (listeners, the plugins as wasm filters, the router) that
//!   Envoy 1.40 runs as it is; `envoy_routes` its route configuration, `envoy_clusters` its
//!   clusters, `json` the protobuf-JSON spellings they share.
//! - `higress`: Higress `WasmPlugin` resources, one per plugin; `ingress` the `Ingress` and
//!   `McpBridge` resources for the routes and clusters.
//! - `marker`: a copy of a Higress `0_2_100` plugin that upstream Envoy accepts.
//! - `error`: [`ExportError`].
//!
//! Each export returns what it wrote and notes (one line each) on what the target does
//! differently or has no form for; a setting that would change answers and has no form
//! there is an [`ExportError`].

mod envoy;
mod envoy_clusters;
mod envoy_routes;
mod error;
mod higress;
mod ingress;
mod json;
mod marker;

pub use envoy::{envoy, EnvoyExport, WasmCopy};
pub use error::ExportError;
pub use higress::{higress, HigressExport};
pub use ingress::HIGRESS_NAMESPACE;
pub use marker::{for_upstream_envoy, HIGRESS_MARKER, STANDARD_MARKER};
