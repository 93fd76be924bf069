//! `wasmgate.yaml` text for tests, built entry by entry.

use std::fmt::Display;
use std::path::Path;

/// A `wasmgate.yaml` that listens on a free port (`127.0.0.1:0`), with the top-level
/// settings, clusters, routes and plugins a test adds (one of each at least). An entry's
/// further lines (`more`, such as `aliases: [auth]` or `config: {...}`) are given as they
/// stand under its `name`.
#[derive(Clone, Default)]
pub struct Config {
    head: String,
    clusters: String,
    routes: String,
    plugins: String,
}

impl Config {
    /// No entries yet.
    pub fn new() -> Config {
        Config {
            head: "listen: 127.0.0.1:0\n".to_string(),
            ..Config::default()
        }
    }

    /// Everything to one upstream: a cluster `echo` with it, and a route `default` to it.
    pub fn routed_to(upstream: impl Display) -> Config {
        Config::new()
            .cluster("echo", upstream, &[])
            .route("default", "echo", &[])
    }

    /// In place of `listen: 127.0.0.1:0`: `listen:` and what follows it (a list of
    /// listeners, say), as YAML lines.
    pub fn listen(mut self, yaml: &str) -> Config {
        self.head = self.head.replacen("listen: 127.0.0.1:0\n", yaml, 1);
        if !self.head.ends_with('\n') {
            self.head.push('\n');
        }
        self
    }

    /// A top-level line, such as `access_log: json`.
    pub fn setting(mut self, line: &str) -> Config {
        self.head += &format!("{line}\n");
        self
    }

    /// A cluster with one endpoint.
    pub fn cluster(mut self, name: &str, endpoint: impl Display, more: &[&str]) -> Config {
        self.clusters += &format!("  - name: {name}\n    endpoints: [{endpoint}]\n");
        self.clusters += &under(more);
        self
    }

    /// A route to `cluster`.
    pub fn route(mut self, name: &str, cluster: &str, more: &[&str]) -> Config {
        self.routes += &format!("  - name: {name}\n    cluster: {cluster}\n");
        self.routes += &under(more);
        self
    }

    /// A plugin (its `wasm` relative to the file's directory, or absolute).
    pub fn plugin(mut self, name: &str, wasm: impl AsRef<Path>, more: &[&str]) -> Config {
        let wasm = wasm.as_ref().display();
        self.plugins += &format!("  - name: {name}\n    wasm: {wasm}\n");
        self.plugins += &under(more);
        self
    }

    /// A plugin given by a WasmPlugin resource file.
    pub fn wasmplugin(mut self, file: &str) -> Config {
        self.plugins += &format!("  - wasmplugin: {file}\n");
        self
    }

    /// The file's text.
    pub fn text(&self) -> String {
        format!(
            "{}clusters:\n{}routes:\n{}plugins:\n{}",
            self.head, self.clusters, self.routes, self.plugins
        )
    }
}

/// Lines under a list entry's first line.
fn under(lines: &[&str]) -> String {
    lines.iter().map(|line| format!("    {line}\n")).collect()
}
