//! [`Worker`]: what one worker serves a configuration generation with: its own VM per plugin,
//! its client, and the generation's routes and clusters.

use std::rc::Rc;
use std::sync::Arc;

use wasmgate_host::HostError;

use super::pool::SlotPool;
use crate::config::GatewayConfig;
use crate::control::generation::Generation;
use crate::edge::tls::ServerTls;
use crate::metrics::{GatewayMetrics, Recorder};
use crate::upstream::client::{client, Client};
use crate::upstream::Clusters;

/// One worker's share of one generation (a reload builds a new one; requests in flight finish
/// on the one they started with).
pub(crate) struct Worker {
    /// Each plugin's VMs, in chain order.
    pub(crate) pools: Vec<Rc<SlotPool>>,
    pub(crate) client: Client,
    pub(crate) config: Arc<GatewayConfig>,
    pub(crate) clusters: Arc<Clusters>,
    pub(crate) metrics: Recorder,
    listener_tls: Arc<[Option<ServerTls>]>,
}

impl Worker {
    /// Builds this worker's VMs for `generation`.
    pub(crate) fn build(
        generation: &Generation,
        metrics: &Arc<GatewayMetrics>,
    ) -> Result<Rc<Worker>, HostError> {
        let client = client(&generation.tls);
        let pools = generation
            .plugins
            .iter()
            .map(|plugin| {
                SlotPool::start(plugin.clone(), generation.clusters.clone(), client.clone())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rc::new(Worker {
            pools,
            client,
            config: generation.config.clone(),
            clusters: generation.clusters.clone(),
            metrics: Recorder::new(metrics.clone()),
            listener_tls: generation.listener_tls.clone(),
        }))
    }

    /// The TLS configuration of listener `index`, `None` for a plain one.
    pub(crate) fn listener_tls(&self, index: usize) -> Option<ServerTls> {
        self.listener_tls.get(index).cloned().flatten()
    }
}
