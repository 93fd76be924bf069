//! The plugin chain, compiled once for the whole gateway: each plugin's module and the VM
//! configuration every worker builds its own VM from.

use std::path::Path;
use std::sync::Arc;

use wasmgate_host::{HostError, PluginModule, Runtime, Shared, VmConfig};

use crate::config::{GatewayConfig, PluginSpec};

/// A compiled plugin and how to build its VMs.
pub(crate) struct LoadedPlugin {
    /// The plugin as configured.
    pub spec: PluginSpec,
    /// Its compiled module.
    pub module: PluginModule,
    /// The configuration of each of its VMs.
    pub vm_config: VmConfig,
}

/// Compiles every plugin of the configuration. A plugin whose file holds the same bytes as
/// one of `running` (the plugins served before a reload) takes that compiled module again:
/// a reload that changes only configuration compiles nothing.
pub(crate) fn load_all(
    config: &GatewayConfig,
    shared: &Shared,
    running: &[Arc<LoadedPlugin>],
) -> Result<Vec<Arc<LoadedPlugin>>, HostError> {
    let runtime = Runtime::new(config.runtime.clone())?;
    let known: Vec<PluginModule> = running.iter().map(|p| p.module.clone()).collect();
    config
        .plugins
        .iter()
        .map(|spec| load(&runtime, config, spec, shared, &known).map(Arc::new))
        .collect()
}

fn load(
    runtime: &Runtime,
    config: &GatewayConfig,
    spec: &PluginSpec,
    shared: &Shared,
    known: &[PluginModule],
) -> Result<LoadedPlugin, HostError> {
    let module = PluginModule::from_file_or_known(runtime, Path::new(&spec.wasm), known)?;
    let mut vm_config = VmConfig::new(spec.name.clone(), spec.config.clone());
    vm_config.root_id = spec.root_id.clone();
    vm_config.log_level = config.log_level;
    vm_config.log_sink = config.plugin_logs.0.clone();
    vm_config.limits = config.limits;
    vm_config.shared = shared.clone();
    vm_config.yielder = Some(yield_to_the_worker);
    tracing::info!(
        plugin = %spec.name,
        abi = ?module.abi(),
        cached = module.from_cache(),
        "loaded {}",
        spec.wasm.display()
    );
    Ok(LoadedPlugin {
        spec: spec.clone(),
        module,
        vm_config,
    })
}

/// Where a long guest call yields at each epoch tick: the worker's runtime runs its other
/// tasks (I/O first: tokio's `yield_now` wakes the task after the next I/O poll).
fn yield_to_the_worker() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(tokio::task::yield_now())
}
