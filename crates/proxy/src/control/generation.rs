//! A configuration generation: the configuration, its compiled plugins, its cluster table,
//! TLS roots and listeners' certificates, checked before any worker sees it.

use std::sync::Arc;

use wasmgate_host::{PluginVm, Shared};

use super::plugins::{load_all, LoadedPlugin};
use crate::callouts::handler::CheckCallouts;
use crate::config::GatewayConfig;
use crate::edge::tls::ServerTls;
use crate::error::GatewayError;
use crate::upstream::tls::client_config;
use crate::upstream::Clusters;

/// A configuration generation, compiled and checked, on its way to the workers.
pub(crate) struct Generation {
    pub(crate) config: Arc<GatewayConfig>,
    pub(crate) plugins: Vec<Arc<LoadedPlugin>>,
    pub(crate) clusters: Arc<Clusters>,
    /// What TLS upstreams and callouts trust.
    pub(crate) tls: Arc<rustls::ClientConfig>,
    /// Each listener's TLS configuration (`None` for a plain one), in `listeners` order: a
    /// reload reads the certificate files again.
    pub(crate) listener_tls: Arc<[Option<ServerTls>]>,
}

impl Generation {
    /// Compiles the plugins (reusing the modules of `running` whose files did not change)
    /// and starts each once with its configuration, so a bad plugin or configuration is
    /// refused before any worker sees it. The check VM gets shared data of its own (a lease
    /// or counter it takes must not hold the real VMs back) and a callout handler that knows
    /// the clusters (a Redis init at start succeeds as it will on the workers) but sends
    /// nothing.
    pub(crate) fn compile(
        config: GatewayConfig,
        shared: &Shared,
        running: &[Arc<LoadedPlugin>],
    ) -> Result<Generation, GatewayError> {
        let plugins = load_all(&config, shared, running)?;
        let clusters = Arc::new(Clusters::new(&config.clusters));
        for plugin in &plugins {
            let mut check = plugin.vm_config.clone();
            check.shared = Shared::default();
            PluginVm::new(
                &plugin.module,
                check,
                Box::new(CheckCallouts(clusters.clone())),
            )?;
        }
        let tls = client_config(&config.clusters)?;
        let listener_tls = listener_tls(&config)?;
        Ok(Generation {
            clusters,
            config: Arc::new(config),
            plugins,
            tls,
            listener_tls,
        })
    }

    /// The same generation with other plugins (the move to optimized code).
    pub(crate) fn with_plugins(&self, plugins: Vec<Arc<LoadedPlugin>>) -> Generation {
        Generation {
            config: self.config.clone(),
            plugins,
            clusters: self.clusters.clone(),
            tls: self.tls.clone(),
            listener_tls: self.listener_tls.clone(),
        }
    }
}

fn listener_tls(config: &GatewayConfig) -> Result<Arc<[Option<ServerTls>]>, GatewayError> {
    config
        .listeners
        .iter()
        .map(|listener| {
            listener
                .tls
                .as_ref()
                .map(ServerTls::load)
                .transpose()
                .map_err(|source| GatewayError::ListenerTls {
                    address: listener.address,
                    source,
                })
        })
        .collect()
}
