//! [`TestHostBuilder`]: how a [`TestHost`] is set up (configuration, names, clusters,
//! foreign functions, shared data, limits), and the one engine and module cache of the
//! process every host is built with.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use wasmgate_host::abi::{LogLevel, Status};
use wasmgate_host::{
    HostError, PluginModule, PluginVm, Runtime, RuntimeConfig, Shared as SharedState, StreamInfo,
    VmConfig,
};

use crate::host::TestHost;
use crate::recorder::Shared;

impl TestHost {
    /// A builder for the plugin at `wasm`.
    pub fn builder(wasm: impl AsRef<Path>) -> TestHostBuilder {
        let mut vm = VmConfig::new("test-plugin", Vec::new());
        vm.log_level = LogLevel::Trace;
        TestHostBuilder {
            wasm: wasm.as_ref().to_path_buf(),
            vm,
            info: StreamInfo {
                route_name: Some("test-route-default".into()),
                cluster_name: Some("test-cluster-default".into()),
                source_address: Some("127.0.0.1:40000".into()),
                destination_address: Some("127.0.0.1:10000".into()),
                protocol: Some("HTTP/1.1".into()),
                ..StreamInfo::default()
            },
            clusters: None,
        }
    }
}

/// Builds a [`TestHost`].
pub struct TestHostBuilder {
    wasm: PathBuf,
    vm: VmConfig,
    info: StreamInfo,
    clusters: Option<Vec<String>>,
}

impl TestHostBuilder {
    /// The plugin configuration, as JSON text.
    pub fn config_json(mut self, json: &str) -> Self {
        self.vm.plugin_config = json.as_bytes().to_vec();
        self
    }

    /// The plugin configuration, as raw bytes.
    pub fn config_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.vm.plugin_config = bytes.into();
        self
    }

    /// The VM configuration.
    pub fn vm_config(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.vm.vm_config = bytes.into();
        self
    }

    /// The plugin name (`plugin_name`, log lines).
    pub fn plugin_name(mut self, name: &str) -> Self {
        self.vm.plugin_name = name.to_string();
        self
    }

    /// The level `proxy_get_log_level` reports (default: trace, so every line is kept).
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.vm.log_level = level;
        self
    }

    /// `route_name` of every request (default `test-route-default`).
    pub fn route_name(mut self, name: &str) -> Self {
        self.info.route_name = Some(name.into());
        self
    }

    /// `cluster_name` of every request (default `test-cluster-default`).
    pub fn cluster_name(mut self, name: &str) -> Self {
        self.info.cluster_name = Some(name.into());
        self
    }

    /// Only these clusters accept callouts; others fail with BAD_ARGUMENT as an unknown
    /// cluster does in Envoy. By default every cluster is known.
    pub fn clusters(mut self, names: &[&str]) -> Self {
        self.clusters = Some(names.iter().map(|s| s.to_string()).collect());
        self
    }

    /// A foreign function the plugin can call.
    pub fn foreign_function(
        mut self,
        name: &str,
        f: impl Fn(&[u8]) -> Result<Vec<u8>, Status> + Send + Sync + 'static,
    ) -> Self {
        self.vm.foreign.insert(name.to_string(), Arc::new(f));
        self
    }

    /// The shared data, queues and metrics this host joins (default: its own). Give two
    /// hosts clones of one [`SharedState`] to run two VMs of a gateway side by side (e.g.
    /// for leader election); hosts with the same plugin name and VM id see the same data.
    pub fn shared(mut self, shared: SharedState) -> Self {
        self.vm.shared = shared;
        self
    }

    /// The VM's memory limit in bytes.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.vm.limits.memory = bytes;
        self
    }

    /// The time limit of one callback.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.vm.limits.call_timeout = timeout;
        self
    }

    /// Loads and starts the plugin.
    pub fn start(self) -> Result<TestHost, HostError> {
        let runtime = shared_runtime()?;
        let module = load(&runtime, &self.wasm)?;
        let recorder = Shared::default();
        recorder.lock().known_clusters = self.clusters;
        let mut vm_config = self.vm;
        vm_config.log_sink = Arc::new(recorder.clone());
        let vm = PluginVm::new(&module, vm_config.clone(), Box::new(recorder.clone()))?;
        Ok(TestHost::from_parts(
            runtime, module, vm_config, vm, recorder, self.info,
        ))
    }
}

/// One engine for every host of the process (compiled modules are per engine), with the
/// on-disk cache of compiled modules. As a test harness the test kit honours the same
/// environment as the `wasmgate` binary (`WASMGATE_CACHE_DIR`, `WASMGATE_QUICK_START`), so a
/// test run shares the cache with the tools.
fn shared_runtime() -> Result<Runtime, HostError> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime.clone());
    }
    let runtime = Runtime::new(RuntimeConfig::from_env())?;
    Ok(RUNTIME.get_or_init(|| runtime).clone())
}

type ModuleKey = (PathBuf, u64, Option<SystemTime>);

/// Compiles a plugin once per process (per file version).
fn load(runtime: &Runtime, path: &Path) -> Result<PluginModule, HostError> {
    static MODULES: OnceLock<Mutex<HashMap<ModuleKey, PluginModule>>> = OnceLock::new();
    let meta = std::fs::metadata(path).ok();
    let key = (
        path.to_path_buf(),
        meta.as_ref().map(|m| m.len()).unwrap_or(0),
        meta.and_then(|m| m.modified().ok()),
    );
    let modules = MODULES.get_or_init(Default::default);
    if let Some(module) = modules.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(module.clone());
    }
    let module = PluginModule::from_file(runtime, path)?;
    modules
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, module.clone());
    Ok(module)
}
