//! wasmgate-proxy: the HTTP data plane.
//!
//! - [`config`]: what a gateway runs: listener, upstream, clusters, plugins.
//! - [`plugins`]: compiling the plugins once and building their VMs.
//! - [`server`]: worker threads, listeners, shutdown.
//! - `slot`: one plugin VM on one worker, with its held streams, ticks and rebuilds.
//! - `chain`: a request's walk through the plugin chain and the upstream.
//! - `callouts`: HTTP callouts from plugins to named clusters.
//! - `convert`: between hyper's types and the plugin's header maps.
//! - [`echo`]: an upstream that answers with what it received.

mod callouts;
mod chain;
pub mod config;
mod convert;
pub mod echo;
pub mod plugins;
pub mod server;
mod slot;

pub use config::{GatewayConfig, PluginSpec};
pub use server::{Gateway, GatewayError};
