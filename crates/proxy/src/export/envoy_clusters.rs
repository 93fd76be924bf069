//! The clusters of an Envoy export: one per cluster name and alias (Envoy has no aliases),
//! STATIC when every endpoint is an IP and STRICT_DNS otherwise, round robin as wasmgate;
//! TLS with the endpoint's name as SNI and as the name checked; HTTP/2 where the cluster
//! speaks it.

use serde_json::{json, Value};

use super::error::ExportError;
use super::json::{host_port, is_ip, socket};
use crate::config::{ClusterSpec, UpstreamProtocol};

/// Where Debian and most Linux systems keep the public roots, for TLS clusters without a
/// `ca_file` (wasmgate trusts the same public roots, from `webpki-roots`).
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The Envoy clusters for `clusters`, and notes on what Envoy does differently.
pub(super) fn clusters(
    clusters: &[ClusterSpec],
    notes: &mut Vec<String>,
) -> Result<Vec<Value>, ExportError> {
    let mut out = Vec::new();
    for cluster in clusters {
        if cluster.tls && cluster.ca_file.is_some() {
            notes.push(format!(
                "cluster {}: Envoy trusts only its ca_file; wasmgate also trusts the public \
                 roots and every other cluster's ca_file",
                cluster.name
            ));
        }
        for name in std::iter::once(&cluster.name).chain(&cluster.aliases) {
            out.push(one(name, cluster)?);
        }
    }
    Ok(out)
}

fn one(name: &str, cluster: &ClusterSpec) -> Result<Value, ExportError> {
    let mut endpoints = Vec::new();
    let mut hosts = Vec::new();
    for endpoint in &cluster.endpoints {
        let (host, port) = host_port(endpoint).ok_or_else(|| {
            ExportError::NoForm(format!(
                "endpoint {endpoint:?} of cluster {}: write it as HOST:PORT",
                cluster.name
            ))
        })?;
        endpoints.push(json!({"endpoint": {"address": socket(host, port)}}));
        hosts.push(host);
    }
    let kind = if hosts.iter().all(|h| is_ip(h)) {
        "STATIC"
    } else {
        "STRICT_DNS"
    };
    let mut out = json!({
        "name": name,
        "type": kind,
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]}
    });
    if cluster.tls {
        out["transport_socket"] = upstream_tls(cluster, hosts.first().copied().unwrap_or(""));
    }
    if cluster.protocol == UpstreamProtocol::Http2 {
        out["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}
            }
        });
    }
    Ok(out)
}

/// TLS to the cluster: `host` as SNI and as the DNS name the certificate must carry (as
/// wasmgate checks it), the cluster's CA or the public roots, `h2` by ALPN for HTTP/2.
fn upstream_tls(cluster: &ClusterSpec, host: &str) -> Value {
    let ca = cluster
        .ca_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| SYSTEM_ROOTS.to_string());
    let mut validation = json!({"trusted_ca": {"filename": ca}});
    let mut context = json!({});
    if !is_ip(host) {
        validation["match_typed_subject_alt_names"] =
            json!([{"san_type": "DNS", "matcher": {"exact": host}}]);
        context["sni"] = json!(host);
    }
    let mut common = json!({ "validation_context": validation });
    if cluster.protocol == UpstreamProtocol::Http2 {
        common["alpn_protocols"] = json!(["h2"]);
    }
    context["common_tls_context"] = common;
    context["@type"] =
        json!("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext");
    json!({"name": "envoy.transport_sockets.tls", "typed_config": context})
}
