//! The routes and clusters of a Higress export: an `Ingress` (`networking.k8s.io/v1`) per
//! route with the annotations Higress reads for what it matches and does, and an
//! `McpBridge` (`networking.higress.io/v1`) with a static or DNS registry for each cluster
//! that is not a Kubernetes service.
//!
//! Higress names an Ingress's route `namespace/name`, or `name` alone in its own namespace:
//! a route `ns/api` becomes Ingress `api` in `ns`, a route `api` becomes Ingress `api` in
//! [`HIGRESS_NAMESPACE`], so the route names plugins' rules match stay the same.

use serde_json::{json, Map, Value};

use super::error::ExportError;
use super::json::host_port;
use crate::config::{
    ClusterSpec, GatewayConfig, PathMatch, RouteSpec, UpstreamProtocol, ValueMatch,
};

/// The namespace Higress runs in: the `WasmPlugin`s' and that of Ingresses whose route name
/// has no `namespace/` (Higress names their routes by the Ingress's name alone).
pub const HIGRESS_NAMESPACE: &str = "higress-system";

/// `name` if it is a Kubernetes object name (a DNS-1123 subdomain).
pub(super) fn kube_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    ok.then_some(name)
}

/// Where an Ingress sends a cluster's requests.
enum Backend {
    /// A Kubernetes service (`outbound|PORT||svc.ns.svc.cluster.local`).
    Service {
        namespace: String,
        name: String,
        port: u16,
    },
    /// A service of the `McpBridge` registry, by `higress.io/destination`.
    Registry {
        destination: String,
        registry: Value,
    },
}

/// The `McpBridge` (when a cluster needs one) and an `Ingress` per route, with file names.
pub(super) fn routes(
    config: &GatewayConfig,
    notes: &mut Vec<String>,
) -> Result<Vec<(String, Value)>, ExportError> {
    let mut registries = Vec::new();
    let mut out = Vec::new();
    for route in &config.routes {
        let cluster = config
            .clusters
            .iter()
            .find(|c| c.name == route.cluster)
            .ok_or_else(|| {
                ExportError::NoForm(format!(
                    "route {}: no cluster {}",
                    route.name, route.cluster
                ))
            })?;
        let backend = backend(cluster, notes)?;
        if let Backend::Registry { registry, .. } = &backend {
            if !registries.contains(registry) {
                registries.push(registry.clone());
            }
        }
        let (namespace, name) = ingress_name(&route.name)?;
        let ingress = ingress(route, cluster, &backend, namespace, name, notes);
        out.push((
            format!("ingress-{}.yaml", route.name.replace('/', "-")),
            ingress,
        ));
    }
    if !registries.is_empty() {
        let bridge = json!({
            "apiVersion": "networking.higress.io/v1",
            "kind": "McpBridge",
            "metadata": {"name": "default", "namespace": HIGRESS_NAMESPACE},
            "spec": {"registries": registries}
        });
        out.insert(0, ("mcpbridge.yaml".to_string(), bridge));
    }
    Ok(out)
}

/// The Ingress's namespace and name for a route name.
fn ingress_name(route: &str) -> Result<(&str, &str), ExportError> {
    let (namespace, name) = route.split_once('/').unwrap_or((HIGRESS_NAMESPACE, route));
    match (kube_name(namespace), kube_name(name)) {
        (Some(namespace), Some(name)) if !namespace.contains('.') => Ok((namespace, name)),
        _ => Err(ExportError::NoForm(format!(
            "route name {route:?}: Higress names a route after its Ingress, so write it as NAME or \
             NAMESPACE/NAME in lower-case letters, digits, '-' and '.'"
        ))),
    }
}

fn backend(cluster: &ClusterSpec, notes: &mut Vec<String>) -> Result<Backend, ExportError> {
    let host = cluster.name.strip_prefix("outbound|").and_then(|rest| {
        let (port, host) = rest.split_once("||")?;
        Some((port.parse::<u16>().ok()?, host))
    });
    if let Some((port, fqdn)) = host {
        if let Some(service) = fqdn.strip_suffix(".svc.cluster.local") {
            if let Some((name, namespace)) = service.split_once('.') {
                return Ok(Backend::Service {
                    namespace: namespace.into(),
                    name: name.into(),
                    port,
                });
            }
        }
        if let Some(name) = fqdn.strip_suffix(".dns") {
            let first = cluster.endpoints.first().map(String::as_str).unwrap_or("");
            let (domain, domain_port) = host_port(first).unwrap_or((first, port));
            return Ok(Backend::Registry {
                destination: format!("{fqdn}:{port}"),
                registry: json!({"name": name, "type": "dns", "domain": domain, "port": domain_port}),
            });
        }
        if let Some(name) = fqdn.strip_suffix(".static") {
            return Ok(static_registry(name, port, cluster));
        }
    }
    let name = cluster.name.to_ascii_lowercase();
    let name = kube_name(&name).ok_or_else(|| {
        ExportError::NoForm(format!(
            "cluster {:?} has no Higress form: name it outbound|PORT||NAME.static, \
             outbound|PORT||NAME.dns or outbound|PORT||SVC.NS.svc.cluster.local",
            cluster.name
        ))
    })?;
    notes.push(format!(
        "cluster {}: Higress calls it outbound|80||{name}.static (a static registry of the \
         McpBridge); plugins that call it by its name must use that one",
        cluster.name
    ));
    Ok(static_registry(name, 80, cluster))
}

fn static_registry(name: &str, port: u16, cluster: &ClusterSpec) -> Backend {
    Backend::Registry {
        destination: format!("{name}.static:{port}"),
        registry: json!({
            "name": name,
            "type": "static",
            "domain": cluster.endpoints.join(","),
            "port": port
        }),
    }
}

fn ingress(
    route: &RouteSpec,
    cluster: &ClusterSpec,
    backend: &Backend,
    namespace: &str,
    name: &str,
    notes: &mut Vec<String>,
) -> Value {
    let mut annotations = Map::new();
    let mut note = |what: &str| notes.push(format!("route {}: {what}", route.name));
    let (path, path_type) = match &route.path {
        PathMatch::Any => ("/".to_string(), "ImplementationSpecific"),
        PathMatch::Prefix(prefix) => (prefix.clone(), "ImplementationSpecific"),
        PathMatch::Exact(path) => (path.clone(), "Exact"),
        PathMatch::Regex(re) => {
            annotations.insert("higress.io/use-regex".into(), json!("true"));
            (re.as_str().to_string(), "ImplementationSpecific")
        }
    };
    if !route.methods.is_empty() {
        annotations.insert(
            "higress.io/match-method".into(),
            json!(route.methods.join(" ")),
        );
    }
    for header in &route.headers {
        match (annotation_kind(&header.value), header.invert) {
            (Some((kind, value)), false) => {
                annotations.insert(
                    format!("higress.io/{kind}-match-header-{}", header.name),
                    json!(value),
                );
            }
            _ => note(&format!(
                "header condition on {} (present or inverted) has no Higress annotation and is \
                 left out, so the Ingress takes more requests",
                header.name
            )),
        }
    }
    for query in &route.query {
        match annotation_kind(&query.value) {
            Some((kind, value)) => {
                annotations.insert(
                    format!("higress.io/{kind}-match-query-{}", query.name),
                    json!(value),
                );
            }
            None => note(&format!(
                "query condition on {} (present) has no Higress annotation and is left out",
                query.name
            )),
        }
    }
    let seconds = route.timeout.as_secs() + u64::from(route.timeout.subsec_nanos() > 0);
    annotations.insert("higress.io/timeout".into(), json!(seconds.to_string()));
    if let Some(host) = &route.host_rewrite {
        annotations.insert("higress.io/upstream-vhost".into(), json!(host));
    }
    match (cluster.tls, cluster.protocol) {
        (false, UpstreamProtocol::Http1) => {}
        (true, UpstreamProtocol::Http1) => {
            annotations.insert("higress.io/backend-protocol".into(), json!("HTTPS"));
        }
        (false, UpstreamProtocol::Http2) => {
            annotations.insert("higress.io/backend-protocol".into(), json!("HTTP2"));
        }
        (true, UpstreamProtocol::Http2) => {
            annotations.insert("higress.io/backend-protocol".into(), json!("GRPCS"));
        }
    }
    if route.grpc_timeout_header_max.is_some() {
        note("grpc_timeout_header_max has no Higress annotation and is left out");
    }
    if route.buffer_limit.is_some() {
        note("buffer_limit_bytes has no Higress annotation and is left out");
    }
    if !route.upgrades.is_empty() {
        note("upgrade_configs has no Higress annotation (Higress lets WebSocket through) and is left out");
    }
    let service_backend = match backend {
        Backend::Service {
            name,
            port,
            namespace: ns,
        } if ns == namespace => {
            json!({"service": {"name": name, "port": {"number": port}}})
        }
        Backend::Service {
            name,
            port,
            namespace: ns,
        } => {
            annotations.insert(
                "higress.io/destination".into(),
                json!(format!("{name}.{ns}.svc.cluster.local:{port}")),
            );
            mcp_bridge_backend()
        }
        Backend::Registry { destination, .. } => {
            annotations.insert("higress.io/destination".into(), json!(destination));
            mcp_bridge_backend()
        }
    };
    let paths = json!([{"path": path, "pathType": path_type, "backend": service_backend}]);
    let mut rules = Vec::new();
    for domain in &route.domains {
        if domain == "*" {
            rules.clear();
            break;
        }
        if domain.ends_with('*') {
            note(&format!(
                "domain {domain}: an Ingress host has no prefix wildcard; left out"
            ));
            continue;
        }
        rules.push(json!({"host": domain.to_ascii_lowercase(), "http": {"paths": paths}}));
    }
    if rules.is_empty() {
        rules.push(json!({"http": {"paths": paths}}));
    }
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {"ingressClassName": "higress", "rules": rules}
    })
}

/// The backend of an Ingress whose service is named by `higress.io/destination`.
fn mcp_bridge_backend() -> Value {
    json!({"resource": {"apiGroup": "networking.higress.io", "kind": "McpBridge", "name": "default"}})
}

/// Higress's annotation kind (`exact`, `prefix`, `regex`) and value for a value condition.
fn annotation_kind(value: &ValueMatch) -> Option<(&'static str, String)> {
    match value {
        ValueMatch::Exact(v) => Some(("exact", v.clone())),
        ValueMatch::Prefix(v) => Some(("prefix", v.clone())),
        ValueMatch::Regex(re) => Some(("regex", re.as_str().to_string())),
        ValueMatch::Present(_) => None,
    }
}
