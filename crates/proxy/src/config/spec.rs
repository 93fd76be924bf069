//! What a gateway runs, checked and ready: listeners, clusters, routes and the plugin chain
//! in filter order, and how a request picks its route. Built from a `wasmgate.yaml` by the
//! `file` loader, or from `wasmgate run`'s flags by [`GatewayConfig::single_upstream`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmgate_host::abi::LogLevel;
use wasmgate_host::{HeaderMap, LogSink, RuntimeConfig, TracingLogSink, VmLimits};

use super::route_match::{method_matches, request_matches, HeaderMatch, QueryMatch};

use super::listeners::{EdgeLimits, ListenerSpec};
use super::upgrades::{default_upgrades, UpgradeSpec};

/// One plugin of the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    /// Its name (log lines, `plugin_name`).
    pub name: String,
    /// The `.wasm` file.
    pub wasm: PathBuf,
    /// Its configuration as the plugin reads it (JSON, with `_rules_` for Higress plugins).
    pub config: Vec<u8>,
    /// What requests get while its VM has crashed and what becomes of the VM.
    pub fail_policy: FailPolicy,
    /// The root id the plugin reads as `plugin_root_id` (Envoy's `root_id`, a WasmPlugin's
    /// `pluginName`); empty unless configured. The proxy-wasm C++ SDK picks its root
    /// context by it.
    pub root_id: String,
    /// where the wasm came from when it was not a local file: the `oci://` or `http(s)://` URL
    /// as written
    pub url: Option<String>,
    /// Its Higress phase: with [`priority`](Self::priority), its place in the chain (and in
    /// an exported `WasmPlugin`).
    pub phase: Phase,
    /// Its Higress priority inside its phase: higher runs first.
    pub priority: i64,
}

impl PluginSpec {
    /// A plugin from a file with a configuration, every other setting at its default.
    pub fn new(
        name: impl Into<String>,
        wasm: impl Into<PathBuf>,
        config: impl Into<Vec<u8>>,
    ) -> Self {
        PluginSpec {
            name: name.into(),
            wasm: wasm.into(),
            config: config.into(),
            fail_policy: FailPolicy::default(),
            root_id: String::new(),
            url: None,
            phase: Phase::default(),
            priority: 0,
        }
    }
}

/// What a plugin's requests get when its VM crashed (a trap, a time or memory limit, a
/// panic in a callback), as Envoy's `failure_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailPolicy {
    /// Envoy's `FAIL_RELOAD`: the VM is rebuilt (requests that need it meanwhile wait for
    /// the rebuild); while it cannot be rebuilt they fail with 503 at once, and it is tried
    /// again with a backoff (1 s, doubling up to 10 s).
    #[default]
    Reload,
    /// Envoy's `FAIL_CLOSED`: every request that needs the plugin fails with 503 until the
    /// configuration is reloaded.
    Closed,
    /// Envoy's `FAIL_OPEN`: requests go on without the plugin while it is down; wasmgate
    /// rebuilds it as for [`Reload`](Self::Reload) (Envoy leaves it down).
    Open,
}

impl FailPolicy {
    /// Whether requests go on without the plugin while it is down.
    pub fn passes(self) -> bool {
        self == FailPolicy::Open
    }

    /// Whether a crashed VM is rebuilt.
    pub fn rebuilds(self) -> bool {
        self != FailPolicy::Closed
    }

    /// Its name in Envoy's `failure_policy`.
    pub fn envoy_name(self) -> &'static str {
        match self {
            FailPolicy::Reload => "FAIL_RELOAD",
            FailPolicy::Closed => "FAIL_CLOSED",
            FailPolicy::Open => "FAIL_OPEN",
        }
    }
}

/// A Higress plugin phase, in the order the chain runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Phase {
    /// `AUTHN`: authentication.
    Authn,
    /// `AUTHZ`: authorization.
    Authz,
    /// `STATS`: statistics.
    Stats,
    /// `UNSPECIFIED_PHASE`: after the others.
    #[default]
    Unspecified,
}

impl Phase {
    /// Its name in a `WasmPlugin` (`AUTHN`, `AUTHZ`, `STATS`, `UNSPECIFIED_PHASE`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Authn => "AUTHN",
            Phase::Authz => "AUTHZ",
            Phase::Stats => "STATS",
            Phase::Unspecified => "UNSPECIFIED_PHASE",
        }
    }
}

/// A named group of endpoints (round robin).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterSpec {
    /// The name plugins see as `cluster_name` (Higress-style names welcome).
    pub name: String,
    /// `host:port` endpoints.
    pub endpoints: Vec<String>,
    /// Other names routes and callouts may use.
    pub aliases: Vec<String>,
    /// HTTP requests and callouts to it go over TLS (the endpoint's host is the server
    /// name checked).
    pub tls: bool,
    /// A PEM file of CA certificates trusted besides the public roots (for a private or
    /// self-signed upstream). The gateway trusts every cluster's CAs for all of them.
    pub ca_file: Option<PathBuf>,
    /// The HTTP version requests and callouts to it speak.
    pub protocol: UpstreamProtocol,
}

/// The HTTP version a cluster's endpoints speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    /// HTTP/1.1, a pooled connection per request in flight.
    #[default]
    Http1,
    /// HTTP/2, requests multiplexed on one connection per endpoint: with prior knowledge
    /// (h2c) in cleartext, negotiated by ALPN (`h2`) over TLS.
    Http2,
}

/// How a route matches the path.
#[derive(Debug, Clone)]
pub enum PathMatch {
    /// Every path.
    Any,
    /// Paths that start with this.
    Prefix(String),
    /// Exactly this path (query excluded).
    Exact(String),
    /// Paths the regular expression matches in full.
    Regex(regex::Regex),
}

impl PathMatch {
    /// Whether `path` (without its query) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Any => true,
            PathMatch::Prefix(prefix) => path.starts_with(prefix.as_str()),
            PathMatch::Exact(exact) => path == exact,
            PathMatch::Regex(re) => re
                .find(path)
                .is_some_and(|m| m.start() == 0 && m.end() == path.len()),
        }
    }
}

/// A route: which requests (domains, path, method, headers, query) go to which cluster.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// What plugins see as `route_name`.
    pub name: String,
    /// Host patterns (exact, `*.suffix`, `prefix*`, `*`); empty matches every host.
    pub domains: Vec<String>,
    /// The path condition.
    pub path: PathMatch,
    /// The cluster's name (as written in its `name:`).
    pub cluster: String,
    /// The upstream's time limit for one request (zero: none).
    pub timeout: Duration,
    /// For gRPC requests, the client's `grpc-timeout` is the upstream's time limit, capped
    /// at this (zero: not capped), as Envoy's `max_stream_duration.grpc_timeout_header_max`;
    /// `None` ignores `grpc-timeout`.
    pub grpc_timeout_header_max: Option<Duration>,
    /// The most body data plugins may hold for a request on this route (default: the
    /// gateway's `body_limit`).
    pub buffer_limit: Option<usize>,
    /// The `Host` the upstream gets, in place of the client's (Envoy's
    /// `host_rewrite_literal`; plugins still see the client's `:authority`).
    pub host_rewrite: Option<String>,
    /// The methods it takes (`:method`, exactly); empty takes every method.
    pub methods: Vec<String>,
    /// Header conditions, all of which must hold (Envoy's `headers`).
    pub headers: Vec<HeaderMatch>,
    /// Query parameter conditions, all of which must hold (Envoy's `query_parameters`).
    pub query: Vec<QueryMatch>,
    /// Upgrades this route lets through or refuses, over the gateway's
    /// [`upgrades`](GatewayConfig::upgrades) (Envoy's `RouteAction.upgrade_configs`).
    pub upgrades: Vec<UpgradeSpec>,
}

impl Default for RouteSpec {
    /// A route with no name or cluster that takes every request, with a 15 s timeout.
    fn default() -> Self {
        RouteSpec {
            name: String::new(),
            domains: Vec::new(),
            path: PathMatch::Any,
            cluster: String::new(),
            timeout: Duration::from_secs(15),
            grpc_timeout_header_max: None,
            buffer_limit: None,
            host_rewrite: None,
            methods: Vec::new(),
            headers: Vec::new(),
            query: Vec::new(),
            upgrades: Vec::new(),
        }
    }
}

impl RouteSpec {
    /// Whether a request head takes this route: its `:authority` (port ignored), its
    /// `:path` (query excluded, except for the query conditions), `:method` and headers.
    pub fn matches(&self, request: &HeaderMap) -> bool {
        let host = strip_port(request.get_str(":authority").unwrap_or(""));
        let path = request.get_str(":path").unwrap_or("/");
        let path = path.split('?').next().unwrap_or(path);
        (self.domains.is_empty() || self.domains.iter().any(|d| domain_matches(d, host)))
            && self.path.matches(path)
            && method_matches(&self.methods, request)
            && request_matches(&self.headers, &self.query, request)
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map(|(h, _)| &h[1..]).unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Envoy's virtual-host domain match: exact, `*.suffix`, `prefix*`, `*` (case-insensitive).
pub fn domain_matches(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    if pattern == "*" {
        true
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        host.len() > suffix.len() && host.ends_with(suffix)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        host.len() > prefix.len() && host.starts_with(prefix)
    } else {
        host == pattern
    }
}

/// The format of the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLog {
    /// No access log.
    Off,
    /// One text line per request.
    Text,
    /// One JSON object per request.
    Json,
}

/// A gateway's configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The listeners: the first is the main one ([`Gateway::local_addr`]).
    ///
    /// [`Gateway::local_addr`]: crate::Gateway::local_addr
    pub listeners: Vec<ListenerSpec>,
    /// The limits client connections are held to.
    pub edge: EdgeLimits,
    /// The admin listener (`/metrics`, `/healthz`, `/ready`), if any.
    pub admin: Option<SocketAddr>,
    /// Clusters, by name.
    pub clusters: Vec<ClusterSpec>,
    /// Routes, first match wins.
    pub routes: Vec<RouteSpec>,
    /// The plugin chain, in request order.
    pub plugins: Vec<PluginSpec>,
    /// The upgrades (WebSocket, …) let through unless a route says otherwise (Envoy's
    /// connection manager's `upgrade_configs`); WebSocket by default.
    pub upgrades: Vec<UpgradeSpec>,
    /// Worker threads.
    pub workers: usize,
    /// How long a paused request may wait for its plugin.
    pub pause_timeout: Duration,
    /// The largest request or response body held in memory.
    pub body_limit: usize,
    /// The plugins' log level.
    pub log_level: LogLevel,
    /// Memory and time limits of each VM.
    pub limits: VmLimits,
    /// How plugins are compiled: the cache of compiled plugins, the quick start on
    /// baseline code (see [`RuntimeConfig::quick_start`]), the perf map. The default has no
    /// cache; the binary takes [`RuntimeConfig::from_env`].
    pub runtime: RuntimeConfig,
    /// The access log's format.
    pub access_log: AccessLog,
    /// Where the plugins' log lines go.
    pub plugin_logs: PluginLogs,
}

/// Where the plugins' log lines go: `tracing` (target `plugin`, with the plugin's name and
/// the request id) unless the embedder, a test say, takes them itself.
#[derive(Clone)]
pub struct PluginLogs(pub Arc<dyn LogSink>);

impl Default for PluginLogs {
    fn default() -> Self {
        PluginLogs(Arc::new(TracingLogSink))
    }
}

impl std::fmt::Debug for PluginLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PluginLogs")
    }
}

/// The cluster and route names `wasmgate run --upstream` uses.
pub const RUN_CLUSTER: &str = "upstream";

impl GatewayConfig {
    /// An empty configuration with defaults: 127.0.0.1:10000, one worker per core.
    pub fn new() -> Self {
        GatewayConfig {
            listeners: vec![ListenerSpec::plain(SocketAddr::from((
                [127, 0, 0, 1],
                10000,
            )))],
            edge: EdgeLimits::default(),
            admin: None,
            clusters: Vec::new(),
            routes: Vec::new(),
            plugins: Vec::new(),
            upgrades: default_upgrades(),
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            pause_timeout: Duration::from_secs(30),
            body_limit: 10 << 20,
            log_level: LogLevel::Info,
            limits: VmLimits::default(),
            runtime: RuntimeConfig::default(),
            access_log: AccessLog::Text,
            plugin_logs: PluginLogs::default(),
        }
    }

    /// Listens on `address` alone, plain (port 0 picks a free one).
    pub fn listen_on(&mut self, address: SocketAddr) {
        self.listeners = vec![ListenerSpec::plain(address)];
    }

    /// Every request to one upstream `host:port`, through one route and one cluster.
    pub fn single_upstream(upstream: &str, route_name: &str, cluster_name: &str) -> Self {
        let mut config = GatewayConfig::new();
        config.clusters.push(ClusterSpec {
            name: cluster_name.to_string(),
            endpoints: vec![upstream.to_string()],
            aliases: vec![RUN_CLUSTER.to_string()],
            ..ClusterSpec::default()
        });
        config.routes.push(RouteSpec {
            name: route_name.to_string(),
            domains: Vec::new(),
            path: PathMatch::Any,
            cluster: cluster_name.to_string(),
            timeout: Duration::from_secs(15),
            buffer_limit: None,
            host_rewrite: None,
            ..RouteSpec::default()
        });
        config
    }

    /// The first route a request takes, given its head as the plugins left it: the
    /// `:authority`, `:path` and `:method` pseudo-headers and the headers (see
    /// [`RouteSpec::matches`]).
    pub fn route(&self, request: &HeaderMap) -> Option<&RouteSpec> {
        self.route_index(request).map(|i| &self.routes[i])
    }

    /// The position in `routes` of the route [`route`](Self::route) picks.
    pub fn route_index(&self, request: &HeaderMap) -> Option<usize> {
        // A path that is not a path (`OPTIONS *`'s asterisk form) matches no route: 404, as
        // Envoy's routes, which all match paths starting with `/`.
        if !request.first(b":path").is_some_and(|p| p.starts_with(b"/")) {
            return None;
        }
        self.routes.iter().position(|r| r.matches(request))
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_match_like_envoy() {
        assert!(domain_matches("*.example.com", "api.example.com"));
        assert!(!domain_matches("*.example.com", "example.com"));
        assert!(domain_matches("www.*", "www.a.com"));
        assert!(domain_matches("A.com", "a.COM"));
        assert!(domain_matches("*", "anything"));
        assert!(!domain_matches("a.com", "b.com"));
    }

    #[test]
    fn routes_match_host_without_port_and_path_without_query() {
        let route = RouteSpec {
            name: "api".into(),
            domains: vec!["api.example.com".into()],
            path: PathMatch::Prefix("/api".into()),
            cluster: "c".into(),
            ..RouteSpec::default()
        };
        let head = |host: &str, path: &str| {
            HeaderMap::from_pairs(&[(":method", "GET"), (":authority", host), (":path", path)])
        };
        assert!(route.matches(&head("api.example.com:8080", "/api/x")));
        assert!(route.matches(&head("api.example.com", "/api?x=/v2")));
        assert!(!route.matches(&head("other.com", "/api/x")));
        assert!(!route.matches(&head("api.example.com", "/v2?p=/api")));
        let regex = PathMatch::Regex(regex::Regex::new("/items/[0-9]+").unwrap());
        assert!(regex.matches("/items/42"));
        assert!(!regex.matches("/items/42/x"));
    }
}
