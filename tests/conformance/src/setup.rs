//! The configuration both hosts run for a case: a `GatewayConfig` that wasmgate runs as it
//! is and that Envoy runs as wasmgate's exporter writes it (see [`crate::envoy`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use wasmgate_proxy::{ClusterSpec, GatewayConfig, PathMatch, PluginSpec, RouteSpec};

use crate::{is_h2_callout, transport, Plugin, CLUSTER_NAME, ROUTE_NAME};

/// The TLS of the listener, made for the run (so both hosts serve the same certificates).
pub fn listener_tls(certificates: &transport::Certificates) -> wasmgate_proxy::ListenerTls {
    wasmgate_proxy::ListenerTls {
        certificates: vec![wasmgate_proxy::CertificateSpec {
            cert: certificates.server.cert.clone(),
            key: certificates.server.key.clone(),
        }],
        client_ca: certificates.verify_clients.then(|| certificates.ca.clone()),
        require_client_certificate: false,
    }
}

/// The configuration of a case: one listener, the echo upstream (`upstream`) behind one
/// route and one cluster, the callout clusters (HTTP/2 for those named `grpc…`), the
/// plugins in order. Envoy runs its export with free ports (see [`crate::envoy`]).
pub fn gateway_config(
    plugins: &[Plugin],
    upstream: SocketAddr,
    callouts: &[(String, SocketAddr)],
) -> GatewayConfig {
    let mut config = GatewayConfig::new();
    config.listen_on(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.workers = 1;
    config.access_log = wasmgate_proxy::AccessLog::Off;
    // Envoy runs with `--component-log-level wasm:info`; plugins read the level with
    // `proxy_get_log_level`.
    config.log_level = wasmgate_abi::LogLevel::Info;
    if let Some(dir) = std::env::var_os("WASMGATE_CACHE_DIR") {
        config.runtime.cache_dir = Some(PathBuf::from(dir));
    }
    // Optimized code from the start: moving to it later restarts the VMs in the middle of a
    // case (their start-up log lines would land among a request's).
    config.runtime.quick_start = false;
    // WebSocket over HTTP/2, as the Envoy side's `allow_connect`.
    config.edge.http2_allow_connect = true;
    config.clusters.push(ClusterSpec {
        name: CLUSTER_NAME.to_string(),
        endpoints: vec![upstream.to_string()],
        ..ClusterSpec::default()
    });
    for (name, endpoint) in callouts {
        let protocol = if is_h2_callout(name) {
            wasmgate_proxy::UpstreamProtocol::Http2
        } else {
            wasmgate_proxy::UpstreamProtocol::Http1
        };
        config.clusters.push(ClusterSpec {
            name: name.clone(),
            endpoints: vec![endpoint.to_string()],
            protocol,
            ..ClusterSpec::default()
        });
    }
    config.routes.push(RouteSpec {
        name: ROUTE_NAME.to_string(),
        domains: Vec::new(),
        path: PathMatch::Any,
        cluster: CLUSTER_NAME.to_string(),
        timeout: Duration::from_secs(15),
        buffer_limit: None,
        host_rewrite: None,
        ..RouteSpec::default()
    });
    config.plugins = plugins
        .iter()
        .map(|p| {
            PluginSpec::new(
                p.name.clone(),
                p.wasm.clone(),
                p.config.clone().into_bytes(),
            )
        })
        .collect();
    config
}
