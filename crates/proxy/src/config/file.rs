//! `wasmgate.yaml`: the gateway's configuration file, and Higress `WasmPlugin` resources it
//! refers to. Everything is checked before anything starts; an error names the file, the
//! line and what to fix.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use wasmgate_host::abi::LogLevel;

use super::entry::{fail_policy, file_stem, in_higress_order, phase, yaml_object};
use super::error::{ConfigError, Locator};
use super::listen::{edge_limits, listeners, FileEdge, FileListen};
use super::routes::{routes, FileRoute};
use super::rules::{plugin_json, MatchRule};
use super::secrets::{FileSecrets, Secrets};
use super::source::{FileImages, SourceOptions, Sources};
use super::spec::{AccessLog, ClusterSpec, GatewayConfig, PluginSpec, UpstreamProtocol};
use super::upgrades::{upgrades, FileUpgrade};
use super::wasmplugin::wasmplugin;
use crate::pem::read_certificates;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<FileListen>,
    edge: Option<FileEdge>,
    admin: Option<String>,
    workers: Option<usize>,
    #[serde(default)]
    clusters: Vec<FileCluster>,
    #[serde(default)]
    routes: Vec<FileRoute>,
    #[serde(default)]
    plugins: Vec<FilePlugin>,
    upgrade_configs: Option<Vec<FileUpgrade>>,
    access_log: Option<String>,
    images: Option<FileImages>,
    secrets: Option<FileSecrets>,
    log_level: Option<String>,
    body_limit_bytes: Option<usize>,
    plugin_memory_limit_mb: Option<usize>,
    plugin_call_timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCluster {
    name: String,
    endpoints: Vec<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    tls: bool,
    ca_file: Option<PathBuf>,
    protocol: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePlugin {
    name: Option<String>,
    wasm: Option<String>,
    sha256: Option<String>,
    image_pull_policy: Option<String>,
    image_pull_secret: Option<String>,
    wasmplugin: Option<String>,
    phase: Option<String>,
    priority: Option<i64>,
    #[serde(default)]
    fail_open: bool,
    fail_policy: Option<String>,
    root_id: Option<String>,
    config: Option<serde_yaml::Value>,
    #[serde(default)]
    config_disable: bool,
    #[serde(default)]
    rules: Vec<FileRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    #[serde(default)]
    routes: Vec<String>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    services: Vec<String>,
    config: Option<serde_yaml::Value>,
    #[serde(default)]
    disabled: bool,
}

/// Reads and checks a `wasmgate.yaml`.
pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: None,
        reason: format!("cannot read the configuration: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and checks a `wasmgate.yaml`'s text; `path` names it in errors and anchors
/// relative paths.
pub fn parse(path: &Path, text: &str) -> Result<GatewayConfig, ConfigError> {
    let at = Locator { file: path, text };
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(at.error(
            "",
            "the configuration is empty: give at least clusters and routes (see docs/configuration.md)",
        ));
    }
    let file: File = serde_yaml::from_str(text).map_err(|e| at.yaml(e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut config = GatewayConfig::new();
    if let Some(listen) = file.listen {
        config.listeners = listeners(&at, base, listen)?;
    }
    if let Some(edge) = file.edge {
        config.edge = edge_limits(&at, edge)?;
    }
    if let Some(admin) = &file.admin {
        config.admin = Some(at.address("admin", admin)?);
    }
    match file.workers {
        Some(0) => {
            return Err(at.error(
                "workers:",
                "workers: 0 serves nothing; give 1 or more (leave it out for one per core)",
            ))
        }
        Some(workers) => config.workers = workers,
        None => {}
    }
    if let Some(format) = &file.access_log {
        config.access_log = match format.as_str() {
            "text" => AccessLog::Text,
            "json" => AccessLog::Json,
            "off" => AccessLog::Off,
            other => {
                return Err(at.error(
                    &format!("access_log: {other}"),
                    "access_log must be text, json or off",
                ))
            }
        };
    }
    if let Some(level) = &file.log_level {
        config.log_level = level.parse::<LogLevel>().map_err(|_| {
            at.error(
                &format!("log_level: {level}"),
                "log_level must be trace, debug, info, warn, error or critical",
            )
        })?;
    }
    if let Some(limit) = file.body_limit_bytes {
        config.body_limit = limit;
    }
    if let Some(mb) = file.plugin_memory_limit_mb {
        config.limits.memory = mb << 20;
    }
    if let Some(ms) = file.plugin_call_timeout_ms {
        config.limits.call_timeout = Duration::from_millis(ms);
    }
    if let Some(list) = file.upgrade_configs {
        config.upgrades = upgrades(&at, &["upgrade_configs:"], "the gateway", list)?;
    }
    config.clusters = clusters(&at, base, file.clusters)?;
    config.routes = routes(&at, file.routes, &config.clusters)?;
    let sources = Sources::new(base, file.images, Secrets::new(base, file.secrets));
    let mut plugins = Vec::new();
    for plugin in file.plugins {
        plugins.push(plugin_entry(&at, base, plugin, &sources)?);
    }
    config.plugins = in_higress_order(plugins);
    let mut names = HashSet::new();
    for plugin in &config.plugins {
        if !names.insert(plugin.name.clone()) {
            return Err(at.error(
                &plugin.name,
                &format!(
                    "two plugins are named {}; give each a distinct name",
                    plugin.name
                ),
            ));
        }
    }
    Ok(config)
}

/// A cluster's `ca_file`, relative to the configuration file: it must hold PEM certificates.
fn ca_file(
    at: &Locator<'_>,
    cluster: &str,
    base: &Path,
    file: &Path,
) -> Result<PathBuf, ConfigError> {
    let path = base.join(file);
    let shown = file.display().to_string();
    read_certificates(&path)
        .map_err(|e| at.error(&shown, &format!("ca_file of cluster {cluster}: {e}")))?;
    Ok(path)
}

fn clusters(
    at: &Locator<'_>,
    base: &Path,
    list: Vec<FileCluster>,
) -> Result<Vec<ClusterSpec>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for cluster in list {
        for name in std::iter::once(&cluster.name).chain(&cluster.aliases) {
            if !seen.insert(name.clone()) {
                return Err(at.error(
                    name,
                    &format!("the cluster name or alias {name:?} is used twice"),
                ));
            }
        }
        if cluster.endpoints.is_empty() {
            return Err(at.error(
                &cluster.name,
                &format!("cluster {} has no endpoints", cluster.name),
            ));
        }
        for endpoint in &cluster.endpoints {
            let ok = endpoint
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                return Err(at.error(
                    endpoint,
                    &format!(
                        "endpoint {endpoint:?} of cluster {} must be HOST:PORT",
                        cluster.name
                    ),
                ));
            }
        }
        let ca_file = match &cluster.ca_file {
            Some(file) => Some(ca_file(at, &cluster.name, base, file)?),
            None => None,
        };
        let protocol = match cluster.protocol.as_deref() {
            None | Some("http1") => UpstreamProtocol::Http1,
            Some("http2") => UpstreamProtocol::Http2,
            Some(other) => {
                return Err(at.error(
                    &format!("protocol: {other}"),
                    &format!(
                        "protocol {other:?} of cluster {} must be http1 or http2",
                        cluster.name
                    ),
                ))
            }
        };
        out.push(ClusterSpec {
            name: cluster.name,
            endpoints: cluster.endpoints,
            aliases: cluster.aliases,
            tls: cluster.tls || ca_file.is_some(),
            ca_file,
            protocol,
        });
    }
    Ok(out)
}

fn plugin_entry(
    at: &Locator<'_>,
    base: &Path,
    plugin: FilePlugin,
    sources: &Sources,
) -> Result<PluginSpec, ConfigError> {
    if let Some(resource) = &plugin.wasmplugin {
        if plugin.wasm.is_some() || plugin.config.is_some() || !plugin.rules.is_empty() {
            return Err(at.error(resource, "a wasmplugin entry takes its wasm, config and rules from the resource; remove wasm/config/rules here"));
        }
        return wasmplugin(at, &base.join(resource), plugin.name, sources);
    }
    let wasm = plugin.wasm.as_deref().ok_or_else(|| {
        at.error(
            plugin.name.as_deref().unwrap_or("plugins"),
            "a plugin needs wasm: (a .wasm file) or wasmplugin: (a WasmPlugin resource)",
        )
    })?;
    let options = SourceOptions {
        sha256: plugin.sha256.as_deref(),
        pull_policy: plugin.image_pull_policy.as_deref(),
        pull_secret: plugin.image_pull_secret.as_deref(),
    };
    let (wasm_path, fetched) = sources.resolve(at, base, wasm, options)?;
    let name = plugin.name.unwrap_or_else(|| file_stem(&wasm_path));
    let global = yaml_object(at, &name, plugin.config)?;
    let mut rules = Vec::new();
    for rule in plugin.rules {
        let parsed = MatchRule {
            routes: rule.routes,
            domains: rule.domains,
            services: rule.services,
            config: yaml_object(at, &name, rule.config)?,
            disabled: rule.disabled,
        };
        if !parsed.has_matcher() {
            return Err(at.error(
                "rules:",
                &format!("a rule of plugin {name} has no routes, domains or services to match"),
            ));
        }
        rules.push(parsed);
    }
    let json = plugin_json(global, plugin.config_disable, &rules);
    Ok(PluginSpec {
        name,
        wasm: wasm_path,
        config: sources.plugin_config(at, json)?,
        fail_policy: fail_policy(at, plugin.fail_policy.as_deref(), plugin.fail_open)?,
        root_id: plugin.root_id.unwrap_or_default(),
        url: fetched,
        phase: phase(at, plugin.phase.as_deref())?,
        priority: plugin.priority.unwrap_or(0),
    })
}
