//! The cluster table: cluster names (Higress's `outbound|PORT|SUBSET|FQDN` welcome) and
//! aliases to endpoints, picked round robin.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::{ClusterSpec, UpstreamProtocol};

/// Where a request to a cluster goes: one endpoint's `host:port`, over TLS or not, in the
/// cluster's HTTP version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`.
    pub address: String,
    /// Whether HTTP goes over TLS (`https://`).
    pub tls: bool,
    /// HTTP/1.1 or HTTP/2.
    pub protocol: UpstreamProtocol,
}

impl Endpoint {
    /// The URI of `path` (with its query) at this endpoint.
    pub(crate) fn uri(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.address)
    }
}

/// The cluster table: names (and aliases) to endpoints, picked round robin. Plugins name
/// clusters Higress's way (`outbound|PORT|SUBSET|FQDN`); such a name finds a cluster whose
/// name or alias is the whole name, the FQDN, or the FQDN's service (`auth` in `auth.dns`),
/// and a real domain with no cluster is the domain at that port.
#[derive(Debug, Default)]
pub struct Clusters {
    list: Vec<(ClusterSpec, AtomicUsize)>,
}

const REGISTRY_SUFFIXES: [&str; 6] = [
    ".dns",
    ".static",
    ".nacos",
    ".nacos-ext",
    ".consul",
    ".svc.cluster.local",
];

impl Clusters {
    /// A table of clusters.
    pub fn new(clusters: &[ClusterSpec]) -> Self {
        Clusters {
            list: clusters
                .iter()
                .map(|c| (c.clone(), AtomicUsize::new(0)))
                .collect(),
        }
    }

    /// The cluster a name means, if any.
    pub fn find(&self, name: &str) -> Option<&ClusterSpec> {
        let name = name.split('?').next().unwrap_or(name);
        let mut candidates = vec![name.to_string()];
        if let Some((port, fqdn)) = higress_name(name) {
            candidates.push(fqdn.to_string());
            candidates.push(format!("{fqdn}:{port}"));
            let service = REGISTRY_SUFFIXES
                .iter()
                .find_map(|suffix| fqdn.strip_suffix(suffix))
                .map(|rest| rest.split('.').next().unwrap_or(rest));
            if let Some(service) = service {
                candidates.push(service.to_string());
            }
        }
        candidates.iter().find_map(|candidate| {
            self.list
                .iter()
                .map(|(c, _)| c)
                .find(|c| &c.name == candidate || c.aliases.contains(candidate))
        })
    }

    /// The next endpoint for a name, or `None` for an unknown cluster. A real domain with
    /// no cluster is reached over TLS at port 443.
    pub fn resolve(&self, name: &str) -> Option<Endpoint> {
        if let Some(cluster) = self.find(name) {
            let (_, next) = self.list.iter().find(|(c, _)| c.name == cluster.name)?;
            let at = next.fetch_add(1, Ordering::Relaxed) % cluster.endpoints.len().max(1);
            return cluster.endpoints.get(at).map(|address| Endpoint {
                address: address.clone(),
                tls: cluster.tls,
                protocol: cluster.protocol,
            });
        }
        let (port, fqdn) = higress_name(name.split('?').next().unwrap_or(name))?;
        if REGISTRY_SUFFIXES.iter().any(|s| fqdn.ends_with(s)) {
            return None;
        }
        Some(Endpoint {
            address: format!("{fqdn}:{port}"),
            tls: port == 443,
            protocol: UpstreamProtocol::Http1,
        })
    }
}

/// The port and FQDN of `outbound|PORT|SUBSET|FQDN`.
fn higress_name(name: &str) -> Option<(u16, &str)> {
    let mut parts = name.split('|');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("outbound"), Some(port), Some(_subset), Some(fqdn), None) if !fqdn.is_empty() => {
            Some((port.parse().ok()?, fqdn))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_aliases_and_real_domains() {
        let clusters = Clusters::new(&[
            ClusterSpec {
                name: "outbound|80||httpbin.dns".into(),
                endpoints: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
                aliases: vec!["httpbin".into()],
                ..ClusterSpec::default()
            },
            ClusterSpec {
                name: "redis".into(),
                endpoints: vec!["127.0.0.1:6379".into()],
                ..ClusterSpec::default()
            },
            ClusterSpec {
                name: "secure".into(),
                endpoints: vec!["127.0.0.1:8443".into()],
                tls: true,
                ..ClusterSpec::default()
            },
            ClusterSpec {
                name: "grpc".into(),
                endpoints: vec!["127.0.0.1:9090".into()],
                protocol: UpstreamProtocol::Http2,
                ..ClusterSpec::default()
            },
        ]);
        let endpoint = |address: &str, tls: bool| {
            Some(Endpoint {
                address: address.to_string(),
                tls,
                protocol: UpstreamProtocol::Http1,
            })
        };
        assert_eq!(
            clusters.resolve("outbound|80||httpbin.dns"),
            endpoint("127.0.0.1:1", false)
        );
        assert_eq!(
            clusters.resolve("httpbin"),
            endpoint("127.0.0.1:2", false),
            "round robin"
        );
        assert_eq!(
            clusters.resolve("outbound|8443||secure.dns"),
            endpoint("127.0.0.1:8443", true)
        );
        assert_eq!(
            clusters.find("outbound|8080||httpbin.static").unwrap().name,
            "outbound|80||httpbin.dns"
        );
        assert_eq!(
            clusters
                .find("outbound|6379||redis.static?db=1")
                .unwrap()
                .name,
            "redis"
        );
        assert_eq!(
            clusters
                .find("outbound|6379|v1|redis.default.svc.cluster.local")
                .unwrap()
                .name,
            "redis"
        );
        assert_eq!(
            clusters.resolve("outbound|443||api.example.com"),
            endpoint("api.example.com:443", true)
        );
        assert_eq!(
            clusters.resolve("outbound|8080||api.example.com"),
            endpoint("api.example.com:8080", false)
        );
        assert_eq!(
            clusters.resolve("grpc"),
            Some(Endpoint {
                address: "127.0.0.1:9090".into(),
                tls: false,
                protocol: UpstreamProtocol::Http2,
            })
        );
        assert_eq!(clusters.resolve("outbound|80||other.dns"), None);
        assert_eq!(clusters.resolve("nope"), None);
    }
}
