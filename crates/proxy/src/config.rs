//! What a gateway runs: where it listens, where requests go, which clusters callouts may
//! reach, and the plugin chain in order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use wasmgate_host::abi::LogLevel;
use wasmgate_host::VmLimits;

/// One plugin of the chain.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// Its name (log lines, `plugin_name`).
    pub name: String,
    /// The `.wasm` file.
    pub wasm: PathBuf,
    /// Its configuration as the plugin reads it (JSON for Higress plugins).
    pub config: Vec<u8>,
    /// On a crash, pass the request on instead of failing it with 500.
    pub fail_open: bool,
}

/// A gateway's configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Listening address (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Where requests go: `http://host:port`.
    pub upstream: http::Uri,
    /// Cluster names plugins may call, with their `host:port`.
    pub clusters: HashMap<String, String>,
    /// The plugin chain, in request order.
    pub plugins: Vec<PluginSpec>,
    /// Worker threads.
    pub workers: usize,
    /// What plugins see as `route_name`.
    pub route_name: String,
    /// What plugins see as `cluster_name`.
    pub cluster_name: String,
    /// The upstream's time limit for one request.
    pub upstream_timeout: Duration,
    /// How long a paused request may wait for its plugin.
    pub pause_timeout: Duration,
    /// The largest request or response body held in memory.
    pub body_limit: usize,
    /// The plugins' log level.
    pub log_level: LogLevel,
    /// Memory and time limits of each VM.
    pub limits: VmLimits,
    /// Where compiled plugins are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
}

impl GatewayConfig {
    /// A configuration with defaults: 127.0.0.1:10000, no plugins, one worker per core.
    pub fn new(upstream: http::Uri) -> Self {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 10000)),
            upstream,
            clusters: HashMap::new(),
            plugins: Vec::new(),
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            route_name: "default".into(),
            cluster_name: "upstream".into(),
            upstream_timeout: Duration::from_secs(15),
            pause_timeout: Duration::from_secs(30),
            body_limit: 10 << 20,
            log_level: LogLevel::Info,
            limits: VmLimits::default(),
            cache_dir: wasmgate_host::runtime::default_cache_dir(),
        }
    }
}
