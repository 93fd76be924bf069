//! Upstream clusters named the way Higress names them, so an HTTP or Redis call reaches the
//! same service on Higress, Envoy with Higress's xDS, and wasmgate.
//!
//! | Type | Cluster name | Default `:authority` |
//! |---|---|---|
//! | [`FqdnCluster`] | `outbound\|<port>\|\|<fqdn>` | host, else fqdn |
//! | [`K8sCluster`] | `outbound\|<port>\|<version>\|<svc>.<ns or default>.svc.cluster.local` | host, else `<svc>.<ns or default>.svc.cluster.local` |
//! | [`NacosCluster`] | `outbound\|<port>\|<version>\|<svc>.<group, _→-, default DEFAULT-GROUP>.<namespace id>.nacos` (`.nacos-ext` for an external registry) | host, else service |
//! | [`StaticIpCluster`] | `outbound\|<port>\|\|<svc>.static` | host, else service |
//! | [`DnsCluster`] | `outbound\|<port>\|\|<svc>.dns` | domain |
//! | [`ConsulCluster`] | `outbound\|<port>\|\|<svc>.<datacenter>.consul` | host, else service |
//! | [`RouteCluster`] | the current route's `cluster_name` | host, else the request's `:authority` |
//! | [`TargetCluster`] | the given name, verbatim | host |
//!
//! One deliberate difference from wasm-go: `K8sCluster`'s default authority uses `default`
//! for an empty namespace (wasm-go writes `svc..svc.cluster.local`); cluster names are
//! identical.

use serde::Deserialize;

use crate::{context, raw};

/// Something callouts can be sent to.
pub trait Cluster {
    /// The Envoy cluster name (`outbound|port|subset|fqdn`, …).
    fn cluster_name(&self) -> String;
    /// The default `:authority` of requests to it (empty: none).
    fn host_name(&self) -> String;
}

/// A service by fully qualified domain name (`outbound|<port>||<fqdn>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FqdnCluster {
    /// The service's FQDN.
    pub fqdn: String,
    /// An explicit `:authority`.
    #[serde(default)]
    pub host: String,
    /// The port.
    pub port: u16,
}

impl FqdnCluster {
    /// A cluster for `fqdn:port`.
    pub fn new(fqdn: impl Into<String>, port: u16) -> Self {
        FqdnCluster {
            fqdn: fqdn.into(),
            port,
            ..Default::default()
        }
    }
}

impl Cluster for FqdnCluster {
    fn cluster_name(&self) -> String {
        format!("outbound|{}||{}", self.port, self.fqdn)
    }
    fn host_name(&self) -> String {
        non_empty(&self.host).unwrap_or(&self.fqdn).to_string()
    }
}

/// A Kubernetes service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct K8sCluster {
    /// The service name.
    pub service_name: String,
    /// The namespace (empty: `default`).
    #[serde(default)]
    pub namespace: String,
    /// The port.
    pub port: u16,
    /// The subset version (empty: none).
    #[serde(default)]
    pub version: String,
    /// An explicit `:authority`.
    #[serde(default)]
    pub host: String,
}

impl K8sCluster {
    /// A cluster for `service.namespace:port`.
    pub fn new(service_name: impl Into<String>, namespace: impl Into<String>, port: u16) -> Self {
        K8sCluster {
            service_name: service_name.into(),
            namespace: namespace.into(),
            port,
            ..Default::default()
        }
    }

    fn fqdn(&self) -> String {
        let namespace = non_empty(&self.namespace).unwrap_or("default");
        format!("{}.{}.svc.cluster.local", self.service_name, namespace)
    }
}

impl Cluster for K8sCluster {
    fn cluster_name(&self) -> String {
        format!("outbound|{}|{}|{}", self.port, self.version, self.fqdn())
    }
    fn host_name(&self) -> String {
        non_empty(&self.host)
            .map(str::to_string)
            .unwrap_or_else(|| self.fqdn())
    }
}

/// A service registered in Nacos.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct NacosCluster {
    /// The service name.
    pub service_name: String,
    /// The group (empty: `DEFAULT-GROUP`; `_` becomes `-`).
    #[serde(default)]
    pub group: String,
    /// The Nacos namespace id.
    #[serde(default)]
    pub namespace_id: String,
    /// The port.
    pub port: u16,
    /// Registered through an external registry (`.nacos-ext`).
    #[serde(default)]
    pub is_ext_registry: bool,
    /// The subset version.
    #[serde(default)]
    pub version: String,
    /// An explicit `:authority`.
    #[serde(default)]
    pub host: String,
}

impl NacosCluster {
    /// A cluster for a Nacos service in a namespace.
    pub fn new(
        service_name: impl Into<String>,
        namespace_id: impl Into<String>,
        port: u16,
    ) -> Self {
        NacosCluster {
            service_name: service_name.into(),
            namespace_id: namespace_id.into(),
            port,
            ..Default::default()
        }
    }
}

impl Cluster for NacosCluster {
    fn cluster_name(&self) -> String {
        let group = match non_empty(&self.group) {
            Some(g) => g.replace('_', "-"),
            None => "DEFAULT-GROUP".to_string(),
        };
        let tail = if self.is_ext_registry {
            "nacos-ext"
        } else {
            "nacos"
        };
        format!(
            "outbound|{}|{}|{}.{}.{}.{}",
            self.port, self.version, self.service_name, group, self.namespace_id, tail
        )
    }
    fn host_name(&self) -> String {
        non_empty(&self.host)
            .unwrap_or(&self.service_name)
            .to_string()
    }
}

/// A service with fixed addresses (`<svc>.static`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StaticIpCluster {
    /// The service name.
    pub service_name: String,
    /// The port.
    pub port: u16,
    /// An explicit `:authority`.
    #[serde(default)]
    pub host: String,
}

impl StaticIpCluster {
    /// A cluster for a static service.
    pub fn new(service_name: impl Into<String>, port: u16) -> Self {
        StaticIpCluster {
            service_name: service_name.into(),
            port,
            ..Default::default()
        }
    }
}

impl Cluster for StaticIpCluster {
    fn cluster_name(&self) -> String {
        format!("outbound|{}||{}.static", self.port, self.service_name)
    }
    fn host_name(&self) -> String {
        non_empty(&self.host)
            .unwrap_or(&self.service_name)
            .to_string()
    }
}

/// A service resolved by DNS (`<svc>.dns`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct DnsCluster {
    /// The service name.
    pub service_name: String,
    /// The domain (the default `:authority`).
    #[serde(default)]
    pub domain: String,
    /// The port.
    pub port: u16,
}

impl DnsCluster {
    /// A cluster for a DNS service.
    pub fn new(service_name: impl Into<String>, domain: impl Into<String>, port: u16) -> Self {
        DnsCluster {
            service_name: service_name.into(),
            domain: domain.into(),
            port,
        }
    }
}

impl Cluster for DnsCluster {
    fn cluster_name(&self) -> String {
        format!("outbound|{}||{}.dns", self.port, self.service_name)
    }
    fn host_name(&self) -> String {
        self.domain.clone()
    }
}

/// A service registered in Consul.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ConsulCluster {
    /// The service name.
    pub service_name: String,
    /// The datacenter.
    #[serde(default)]
    pub datacenter: String,
    /// The port.
    pub port: u16,
    /// An explicit `:authority`.
    #[serde(default)]
    pub host: String,
}

impl Cluster for ConsulCluster {
    fn cluster_name(&self) -> String {
        format!(
            "outbound|{}||{}.{}.consul",
            self.port, self.service_name, self.datacenter
        )
    }
    fn host_name(&self) -> String {
        non_empty(&self.host)
            .unwrap_or(&self.service_name)
            .to_string()
    }
}

/// The current route's upstream (its `cluster_name` property).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RouteCluster {
    /// An explicit `:authority` (empty: the request's).
    #[serde(default)]
    pub host: String,
}

impl Cluster for RouteCluster {
    fn cluster_name(&self) -> String {
        if let Some(stream) = context::current() {
            let _ = stream.enter();
        }
        raw::get_property(&["cluster_name"])
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
    fn host_name(&self) -> String {
        if let Some(host) = non_empty(&self.host) {
            return host.to_string();
        }
        match context::current() {
            Some(stream) => stream
                .request_header(":authority")
                .unwrap_or_else(|| stream.host()),
            None => String::new(),
        }
    }
}

/// A cluster given by its exact Envoy name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TargetCluster {
    /// The `:authority`.
    #[serde(default)]
    pub host: String,
    /// The cluster name, verbatim.
    pub cluster: String,
}

impl TargetCluster {
    /// A cluster by name with an authority.
    pub fn new(cluster: impl Into<String>, host: impl Into<String>) -> Self {
        TargetCluster {
            cluster: cluster.into(),
            host: host.into(),
        }
    }
}

impl Cluster for TargetCluster {
    fn cluster_name(&self) -> String {
        self.cluster.clone()
    }
    fn host_name(&self) -> String {
        self.host.clone()
    }
}

impl<T: Cluster + ?Sized> Cluster for Box<T> {
    fn cluster_name(&self) -> String {
        (**self).cluster_name()
    }
    fn host_name(&self) -> String {
        (**self).host_name()
    }
}

impl<T: Cluster + ?Sized> Cluster for std::rc::Rc<T> {
    fn cluster_name(&self) -> String {
        (**self).cluster_name()
    }
    fn host_name(&self) -> String {
        (**self).host_name()
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_wasm_go_cluster_wrapper_test() {
        let k8s = K8sCluster {
            service_name: "foo".into(),
            namespace: "bar".into(),
            port: 8080,
            version: "1.0".into(),
            ..Default::default()
        };
        assert_eq!(
            k8s.cluster_name(),
            "outbound|8080|1.0|foo.bar.svc.cluster.local"
        );
        assert_eq!(k8s.host_name(), "foo.bar.svc.cluster.local");
        let k8s = K8sCluster::new("foo", "", 8080);
        assert_eq!(
            k8s.cluster_name(),
            "outbound|8080||foo.default.svc.cluster.local"
        );
        assert_eq!(k8s.host_name(), "foo.default.svc.cluster.local");

        let nacos = NacosCluster {
            service_name: "foo".into(),
            namespace_id: "xxxx".into(),
            port: 8080,
            version: "1.0".into(),
            ..Default::default()
        };
        assert_eq!(
            nacos.cluster_name(),
            "outbound|8080|1.0|foo.DEFAULT-GROUP.xxxx.nacos"
        );
        let nacos = NacosCluster {
            is_ext_registry: true,
            version: String::new(),
            ..nacos
        };
        assert_eq!(
            nacos.cluster_name(),
            "outbound|8080||foo.DEFAULT-GROUP.xxxx.nacos-ext"
        );
        assert_eq!(nacos.host_name(), "foo");
        let grouped = NacosCluster {
            group: "my_group".into(),
            ..NacosCluster::new("foo", "ns", 80)
        };
        assert_eq!(grouped.cluster_name(), "outbound|80||foo.my-group.ns.nacos");

        assert_eq!(
            StaticIpCluster::new("foo", 8080).cluster_name(),
            "outbound|8080||foo.static"
        );
        let dns = DnsCluster::new("foo", "foo.example.com", 8080);
        assert_eq!(dns.cluster_name(), "outbound|8080||foo.dns");
        assert_eq!(dns.host_name(), "foo.example.com");
        assert_eq!(
            FqdnCluster::new("a.b.c", 443).cluster_name(),
            "outbound|443||a.b.c"
        );
        let consul = ConsulCluster {
            service_name: "foo".into(),
            datacenter: "dc1".into(),
            port: 8500,
            host: String::new(),
        };
        assert_eq!(consul.cluster_name(), "outbound|8500||foo.dc1.consul");
        let target = TargetCluster::new("outbound|80||x.static", "x.local");
        assert_eq!(target.cluster_name(), "outbound|80||x.static");
        assert_eq!(target.host_name(), "x.local");
    }
}
