//! An Envoy bootstrap for a [`GatewayConfig`]: `static_resources` with a listener per
//! listener (TLS where it has it), one connection manager with wasmgate's edge limits and
//! upgrades, the plugins in chain order as `envoy.filters.http.wasm` filters (their
//! configuration, `_rules_` included, as a `StringValue`, the V8 runtime), the router, the
//! routes and the clusters. Envoy 1.40 runs it as it is.
//!
//! Upstream Envoy refuses Higress's `0_2_100` ABI marker: such a plugin is loaded from a
//! copy with the standard marker (a [`WasmCopy`] the caller writes), and a note says so.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::envoy_clusters::clusters;
use super::envoy_routes::route_config;
use super::error::ExportError;
use super::json::{duration, socket};
use super::marker::for_upstream_envoy;
use crate::config::{AccessLog, GatewayConfig, ListenerSpec, ListenerTls, PluginSpec};

/// An Envoy export.
#[derive(Debug, Clone)]
pub struct EnvoyExport {
    /// The bootstrap (write it as JSON or YAML).
    pub bootstrap: Value,
    /// Plugin copies the bootstrap loads, to be written where it names them.
    pub copies: Vec<WasmCopy>,
    /// What Envoy does differently, or what the bootstrap leaves to Envoy's command line.
    pub notes: Vec<String>,
}

/// A copy of a plugin with the standard ABI marker, for upstream Envoy.
#[derive(Debug, Clone)]
pub struct WasmCopy {
    /// The plugin.
    pub plugin: String,
    /// Where the bootstrap loads it from.
    pub path: PathBuf,
    /// The module.
    pub bytes: Vec<u8>,
}

/// The Envoy export of `config`; copies of `0_2_100` plugins are named in `dir`.
pub fn envoy(config: &GatewayConfig, dir: &Path) -> Result<EnvoyExport, ExportError> {
    let mut notes = Vec::new();
    if config.edge.max_connections_per_worker.is_some() {
        return Err(ExportError::NoForm(
            "edge.max_connections_per_worker has no Envoy form (Envoy limits connections \
             process-wide, in its overload manager); remove it to export for Envoy"
                .to_string(),
        ));
    }
    let mut copies = Vec::new();
    let mut filters = Vec::new();
    for plugin in &config.plugins {
        let (file, copy) = loadable(plugin, dir)?;
        if let Some(copy) = copy {
            notes.push(format!(
                "plugin {}: Higress's ABI 0_2_100 is unknown to upstream Envoy, so Envoy loads \
                 {}, a copy marked 0_2_1 (a StopIteration from request headers then stops \
                 all iteration, as Envoy does for 0_2_1); Higress's Envoy takes the original",
                plugin.name,
                copy.path.display()
            ));
            copies.push(copy);
        }
        if String::from_utf8_lossy(&plugin.config).contains("\"_match_route_\"") {
            notes.push(format!(
                "plugin {}: its rules by route (_match_route_) never match in upstream Envoy, \
                 which gives wasm filters no route_name (Higress's Envoy does)",
                plugin.name
            ));
        }
        if let Some(url) = &plugin.url {
            notes.push(format!(
                "plugin {}: came from {url}; Envoy loads the fetched file",
                plugin.name
            ));
        }
        filters.push(wasm_filter(plugin, &file));
    }
    filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
    }));
    let manager = connection_manager(config, filters, &mut notes);
    let listeners: Vec<Value> = config
        .listeners
        .iter()
        .enumerate()
        .map(|(i, l)| listener(i, l, &manager))
        .collect();
    let mut bootstrap = json!({
        "static_resources": {"listeners": listeners, "clusters": clusters(&config.clusters, &mut notes)?}
    });
    if let Some(admin) = config.admin {
        bootstrap["admin"] = json!({"address": socket(&admin.ip().to_string(), admin.port())});
        notes.push(
            "admin: Envoy's admin listens there (metrics at /stats/prometheus, readiness at /ready)"
                .to_string(),
        );
    }
    notes.push(format!(
        "run it with --concurrency {} (wasmgate's workers) and --component-log-level wasm:{} \
         (the plugins' log level)",
        config.workers,
        config.log_level.name()
    ));
    Ok(EnvoyExport {
        bootstrap,
        copies,
        notes,
    })
}

/// The file Envoy loads for `plugin` (absolute), and the copy to write when it is one.
fn loadable(plugin: &PluginSpec, dir: &Path) -> Result<(PathBuf, Option<WasmCopy>), ExportError> {
    let bytes = std::fs::read(&plugin.wasm).map_err(|source| ExportError::ReadWasm {
        plugin: plugin.name.clone(),
        path: plugin.wasm.clone(),
        source,
    })?;
    let copy = for_upstream_envoy(&bytes).map_err(|e| ExportError::BadWasm {
        plugin: plugin.name.clone(),
        path: plugin.wasm.clone(),
        reason: e.to_string(),
    })?;
    match copy {
        None => Ok((absolute(&plugin.wasm), None)),
        Some(bytes) => {
            let path = absolute(&dir.join(format!("{}.abi_0_2_1.wasm", plugin.name)));
            let copy = WasmCopy {
                plugin: plugin.name.clone(),
                path: path.clone(),
                bytes,
            };
            Ok((path, Some(copy)))
        }
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn wasm_filter(plugin: &PluginSpec, file: &Path) -> Value {
    let mut config = json!({
        "name": plugin.name,
        "root_id": plugin.root_id,
        "vm_config": {
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": file.display().to_string()}}
        },
        "configuration": {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": String::from_utf8_lossy(&plugin.config)
        }
    });
    config["failure_policy"] = json!(plugin.fail_policy.envoy_name());
    json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": config
        }
    })
}

/// The HTTP connection manager every listener runs.
fn connection_manager(
    config: &GatewayConfig,
    filters: Vec<Value>,
    notes: &mut Vec<String>,
) -> Value {
    let edge = &config.edge;
    let upgrades: Vec<Value> = config
        .upgrades
        .iter()
        .map(|u| json!({"upgrade_type": u.upgrade_type, "enabled": u.enabled}))
        .collect();
    let mut common = json!({ "max_headers_count": edge.max_request_headers_count });
    if let Some(idle) = edge.idle_timeout {
        common["idle_timeout"] = json!(duration(idle));
    }
    let mut manager = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "wasmgate",
        // HTTP/1.1, and HTTP/2 by ALPN or by its preface (h2c), as wasmgate serves them.
        "codec_type": "AUTO",
        "upgrade_configs": upgrades,
        "http2_protocol_options": {
            "allow_connect": edge.http2_allow_connect,
            "max_concurrent_streams": edge.http2_max_concurrent_streams
        },
        "common_http_protocol_options": common,
        "max_request_headers_kb": edge.max_request_headers_bytes.div_ceil(1024),
        "drain_timeout": duration(edge.drain_timeout),
        "route_config": route_config(config, notes),
        "http_filters": filters
    });
    if edge.accept_http_10 {
        manager["http_protocol_options"] = json!({ "accept_http_10": true });
    }
    if let Some(timeout) = edge.request_headers_timeout {
        manager["request_headers_timeout"] = json!(duration(timeout));
    }
    // Envoy's zero is no limit.
    let stream_idle = edge.stream_idle_timeout.unwrap_or_default();
    manager["stream_idle_timeout"] = json!(duration(stream_idle));
    if let Some(log) = access_log(config.access_log) {
        manager["access_log"] = json!([log]);
        notes.push("access_log: Envoy writes its own line format to stdout".to_string());
    }
    json!({"name": "envoy.filters.network.http_connection_manager", "typed_config": manager})
}

fn access_log(format: AccessLog) -> Option<Value> {
    let mut logger = json!({
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
    });
    match format {
        AccessLog::Off => return None,
        AccessLog::Text => {}
        AccessLog::Json => {
            logger["log_format"] = json!({"json_format": {
                "start_time": "%START_TIME%",
                "method": "%REQ(:METHOD)%",
                "path": "%REQ(:PATH)%",
                "status": "%RESPONSE_CODE%",
                "duration_ms": "%DURATION%",
                "route": "%ROUTE_NAME%",
                "cluster": "%UPSTREAM_CLUSTER%",
                "request_id": "%REQ(X-REQUEST-ID)%"
            }});
        }
    }
    Some(json!({"name": "envoy.access_loggers.stdout", "typed_config": logger}))
}

fn listener(index: usize, spec: &ListenerSpec, manager: &Value) -> Value {
    let address = spec.address;
    let mut chain = json!({ "filters": [manager] });
    let mut listener = json!({
        "name": format!("listener_{index}"),
        "address": socket(&address.ip().to_string(), address.port()),
    });
    if let Some(tls) = &spec.tls {
        chain["transport_socket"] = downstream_tls(tls);
        // The SNI (`connection.requested_server_name`) for the plugins.
        listener["listener_filters"] = json!([{
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}
        }]);
    }
    listener["filter_chains"] = json!([chain]);
    listener
}

/// A TLS listener's context: its certificates (Envoy picks one by SNI), ALPN
/// `h2,http/1.1`, client certificates checked against the CA when it has one.
fn downstream_tls(tls: &ListenerTls) -> Value {
    let file = |path: &Path| json!({"filename": absolute(path).display().to_string()});
    let certificates: Vec<Value> = tls
        .certificates
        .iter()
        .map(|c| json!({"certificate_chain": file(&c.cert), "private_key": file(&c.key)}))
        .collect();
    let mut common = json!({
        "tls_certificates": certificates,
        "alpn_protocols": ["h2", "http/1.1"]
    });
    if let Some(ca) = &tls.client_ca {
        common["validation_context"] = json!({ "trusted_ca": file(ca) });
    }
    json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": common,
            "require_client_certificate": tls.require_client_certificate
        }
    })
}
