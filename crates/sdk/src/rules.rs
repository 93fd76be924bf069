//! Higress's multi-level configuration: a global config plus `_rules_`, each rule matched by
//! route, domain, service or route prefix, exactly as wasm-go's `pkg/matcher` does.
//!
//! The controller turns a `WasmPlugin`'s `defaultConfig` + `matchRules` into one JSON object:
//!
//! ```json
//! { "global_key": 1, "_plugin_id_": "…",
//!   "_rules_": [ { "_match_route_": ["ns/route-a"], "rule_key": 2 },
//!                { "_match_domain_": ["*.example.com", "www.*", "a.b.com"], "rule_key": 3 },
//!                { "_match_service_": ["svc.dns", "svc.static:8080"], "rule_key": 4 } ] }
//! ```
//!
//! - The first rule (in array order) that matches the request wins; with no match the
//!   global config applies; with no global config the plugin is skipped for the request.
//! - A rule's category comes from its non-empty match keys: route + service →
//!   `RouteAndService`; route → `Route` (a domain key is ignored, with a warning); domain →
//!   `Host` (a service key is ignored, with a warning); service → `Service`; route prefix →
//!   `RoutePrefix`. A rule without any match key fails the start.
//! - Domains: `*.x` is a suffix match, `x*` a prefix match, `*` matches all, anything else
//!   is exact; the request host's port is stripped first (IPv6-aware).
//! - Services: `fqdn` or `fqdn:port`, compared with fields 3 and 1 of `cluster_name`
//!   (`outbound|port|subset|fqdn`).
//!
//! Unlike wasm-go, the `_match_*` keys are removed before a rule is parsed (so strict
//! deserializers accept rules) and a global config that fails to parse fails the start
//! instead of silently becoming a zero value.

use std::fmt;
use std::rc::Rc;

use serde_json::{Map, Value};

/// The key of the rule list.
pub const RULES_KEY: &str = "_rules_";
/// Match by route name (`route_name` property), exact.
pub const MATCH_ROUTE_KEY: &str = "_match_route_";
/// Match by request host.
pub const MATCH_DOMAIN_KEY: &str = "_match_domain_";
/// Match by upstream service (`cluster_name` property).
pub const MATCH_SERVICE_KEY: &str = "_match_service_";
/// Match by route-name prefix.
pub const MATCH_ROUTE_PREFIX_KEY: &str = "_match_route_prefix_";
/// The plugin instance id the controller adds; removed from the config, used in log lines.
pub const PLUGIN_ID_KEY: &str = "_plugin_id_";

const MATCH_KEYS: [&str; 4] = [
    MATCH_ROUTE_KEY,
    MATCH_DOMAIN_KEY,
    MATCH_SERVICE_KEY,
    MATCH_ROUTE_PREFIX_KEY,
];

/// Why a plugin configuration was refused; the message of the start's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The plugin's parser or validator refused a config, with its message.
    Invalid(String),
    /// The global config (the keys besides `_rules_`) was refused.
    Global(Box<ConfigError>),
    /// The rule at this index of `_rules_` was refused.
    Rule {
        /// Its index in `_rules_`.
        index: usize,
        /// Why.
        error: Box<ConfigError>,
    },
    /// A `_rules_` entry at this index is not a JSON object.
    RuleNotAnObject(usize),
    /// `_rules_` is not a list (the value, as JSON).
    RulesNotAList(String),
    /// A match key is not a list of strings.
    MatchNotAList {
        /// The key.
        key: String,
        /// Its value, as JSON.
        value: String,
    },
    /// A `_match_service_` entry `fqdn:port` whose port is not a number.
    ServicePort(String),
    /// A rule without any match key.
    NoMatchKey,
}

impl ConfigError {
    /// A config refused by the plugin's own parser or validator.
    pub fn invalid(message: impl fmt::Display) -> Self {
        ConfigError::Invalid(message.to_string())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid(message) => f.write_str(message),
            ConfigError::Global(e) => write!(f, "global config: {e}"),
            ConfigError::Rule { index, error } => write!(f, "{RULES_KEY}[{index}]: {error}"),
            ConfigError::RuleNotAnObject(index) => {
                write!(f, "{RULES_KEY}[{index}] is not an object")
            }
            ConfigError::RulesNotAList(value) => {
                write!(f, "{RULES_KEY} must be a list, not {value}")
            }
            ConfigError::MatchNotAList { key, value } => {
                write!(f, "{key} must be a list of strings, not {value}")
            }
            ConfigError::ServicePort(entry) => {
                write!(f, "invalid port in service match {entry:?}")
            }
            ConfigError::NoMatchKey => write!(
                f,
                "a rule needs at least one of {MATCH_ROUTE_KEY}, {MATCH_DOMAIN_KEY}, \
                 {MATCH_SERVICE_KEY} and {MATCH_ROUTE_PREFIX_KEY}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// What a rule matches on, from its match keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// `_match_route_` (exact route name).
    Route,
    /// `_match_domain_`.
    Host,
    /// `_match_service_`.
    Service,
    /// `_match_route_` and `_match_service_`: both must match.
    RouteAndService,
    /// `_match_route_prefix_`.
    RoutePrefix,
}

/// One `_match_domain_` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatcher {
    /// `a.b.com`.
    Exact(String),
    /// `*.b.com` (and `*`, the empty suffix).
    Suffix(String),
    /// `www.*`.
    Prefix(String),
}

impl HostMatcher {
    /// Parses an entry as wasm-go does: a leading `*` is a suffix match, a trailing one a
    /// prefix match.
    pub fn parse(entry: &str) -> Self {
        if let Some(rest) = entry.strip_prefix('*') {
            HostMatcher::Suffix(rest.to_string())
        } else if let Some(rest) = entry.strip_suffix('*') {
            HostMatcher::Prefix(rest.to_string())
        } else {
            HostMatcher::Exact(entry.to_string())
        }
    }

    /// Whether a host (port already stripped) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostMatcher::Exact(h) => host == h,
            HostMatcher::Suffix(s) => host.ends_with(s.as_str()),
            HostMatcher::Prefix(p) => host.starts_with(p.as_str()),
        }
    }
}

/// One `_match_service_` entry: an FQDN and an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMatcher {
    /// The service FQDN (`svc.ns.svc.cluster.local`, `svc.dns`, …).
    pub fqdn: String,
    /// The port, when the entry was `fqdn:port`.
    pub port: Option<u16>,
}

impl ServiceMatcher {
    /// Parses `fqdn` or `fqdn:port`.
    pub fn parse(entry: &str) -> Result<Self, ConfigError> {
        match entry.rsplit_once(':') {
            Some((fqdn, port)) => {
                let port = port
                    .parse()
                    .map_err(|_| ConfigError::ServicePort(entry.to_string()))?;
                Ok(ServiceMatcher {
                    fqdn: fqdn.to_string(),
                    port: Some(port),
                })
            }
            None => Ok(ServiceMatcher {
                fqdn: entry.to_string(),
                port: None,
            }),
        }
    }

    /// Whether a `cluster_name` (`outbound|port|subset|fqdn`) names this service.
    pub fn matches(&self, cluster_name: &str) -> bool {
        let parts: Vec<&str> = cluster_name.split('|').collect();
        if parts.len() != 4 {
            return false;
        }
        if parts[3] != self.fqdn {
            return false;
        }
        match self.port {
            Some(port) => parts[1] == port.to_string(),
            None => true,
        }
    }
}

/// The match part of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// How the rule matches.
    pub category: Category,
    /// `_match_route_`.
    pub routes: Vec<String>,
    /// `_match_domain_`.
    pub hosts: Vec<HostMatcher>,
    /// `_match_service_`.
    pub services: Vec<ServiceMatcher>,
    /// `_match_route_prefix_`.
    pub route_prefixes: Vec<String>,
}

/// What the matcher looks at for one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestKey<'a> {
    /// The `route_name` property.
    pub route: &'a str,
    /// The request's `:authority` (the port is stripped here).
    pub host: &'a str,
    /// The `cluster_name` property.
    pub cluster: &'a str,
}

impl RuleMatch {
    /// Reads the match keys of a rule object. `warnings` receives the keys wasm-go ignores.
    pub fn parse(
        rule: &Map<String, Value>,
        warnings: &mut Vec<String>,
    ) -> Result<Self, ConfigError> {
        let list = |key: &str| -> Result<Vec<String>, ConfigError> {
            match rule.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        other => Ok(other.to_string()),
                    })
                    .collect(),
                Some(Value::String(s)) => Ok(vec![s.clone()]),
                Some(other) => Err(ConfigError::MatchNotAList {
                    key: key.to_string(),
                    value: other.to_string(),
                }),
            }
        };
        let routes = list(MATCH_ROUTE_KEY)?;
        let hosts: Vec<HostMatcher> = list(MATCH_DOMAIN_KEY)?
            .iter()
            .map(|h| HostMatcher::parse(h))
            .collect();
        let services = list(MATCH_SERVICE_KEY)?
            .iter()
            .map(|s| ServiceMatcher::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        let route_prefixes = list(MATCH_ROUTE_PREFIX_KEY)?;
        let category = if !routes.is_empty() && !services.is_empty() {
            Category::RouteAndService
        } else if !routes.is_empty() {
            Category::Route
        } else if !hosts.is_empty() {
            Category::Host
        } else if !services.is_empty() {
            Category::Service
        } else if !route_prefixes.is_empty() {
            Category::RoutePrefix
        } else {
            return Err(ConfigError::NoMatchKey);
        };
        let ignored = |key: &str, why: &str, warnings: &mut Vec<String>| {
            warnings.push(format!("rule {key} is ignored: {why}"));
        };
        match category {
            Category::Route | Category::RouteAndService if !hosts.is_empty() => ignored(
                MATCH_DOMAIN_KEY,
                "a rule with _match_route_ matches on the route",
                warnings,
            ),
            Category::Host if !services.is_empty() => ignored(
                MATCH_SERVICE_KEY,
                "a rule with _match_domain_ and no _match_route_ matches on the domain",
                warnings,
            ),
            _ => {}
        }
        if category != Category::RoutePrefix && !route_prefixes.is_empty() {
            ignored(
                MATCH_ROUTE_PREFIX_KEY,
                "other match keys take precedence",
                warnings,
            );
        }
        Ok(RuleMatch {
            category,
            routes,
            hosts,
            services,
            route_prefixes,
        })
    }

    /// Whether a request matches this rule.
    pub fn matches(&self, key: &RequestKey<'_>) -> bool {
        let route = || self.routes.iter().any(|r| r == key.route);
        let service = || self.services.iter().any(|s| s.matches(key.cluster));
        match self.category {
            Category::Route => route(),
            Category::Host => {
                let host = strip_port(key.host);
                self.hosts.iter().any(|h| h.matches(host))
            }
            Category::Service => service(),
            Category::RouteAndService => route() && service(),
            Category::RoutePrefix => self
                .route_prefixes
                .iter()
                .any(|p| key.route.starts_with(p.as_str())),
        }
    }
}

/// Removes the port from a host, leaving IPv6 literals (`[::1]`) intact.
pub fn strip_port(host: &str) -> &str {
    if let Some(colon) = host.rfind(':') {
        match host.rfind(']') {
            Some(v6_end) if v6_end > colon => host,
            _ => &host[..colon],
        }
    } else {
        host
    }
}

/// One parsed rule.
#[derive(Debug)]
pub struct Rule<C> {
    /// What it matches.
    pub matcher: RuleMatch,
    /// Its config.
    pub config: Rc<C>,
}

/// A plugin's parsed configuration: the global part and the rules.
#[derive(Debug)]
pub struct RuleSet<C> {
    /// The global config, when the JSON had keys besides `_rules_`.
    pub global: Option<Rc<C>>,
    /// The rules, in configuration order.
    pub rules: Vec<Rule<C>>,
    /// Match keys that were present but ignored, for the start log.
    pub warnings: Vec<String>,
}

/// How the global config is built from the JSON object without `_rules_`.
pub type GlobalParser<'a, C> = dyn Fn(&Map<String, Value>) -> Result<C, ConfigError> + 'a;

/// How each rule's config is built from its JSON (match keys removed), the global JSON and
/// the parsed global config (if any).
pub type RuleParser<'a, C> =
    dyn Fn(&Map<String, Value>, &Map<String, Value>, Option<&C>) -> Result<C, ConfigError> + 'a;

impl<C> RuleSet<C> {
    /// Parses a whole plugin configuration object (`_plugin_id_` already removed).
    pub fn parse(
        config: &Map<String, Value>,
        parse_global: &GlobalParser<'_, C>,
        parse_rule: &RuleParser<'_, C>,
    ) -> Result<Self, ConfigError> {
        let mut global_json = config.clone();
        let rules_json = global_json.remove(RULES_KEY);
        let has_global = !global_json.is_empty() || rules_json.is_none();
        let global = if has_global {
            Some(Rc::new(
                parse_global(&global_json).map_err(|e| ConfigError::Global(Box::new(e)))?,
            ))
        } else {
            None
        };
        let mut warnings = Vec::new();
        let mut rules = Vec::new();
        match rules_json {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let Value::Object(rule) = item else {
                        return Err(ConfigError::RuleNotAnObject(i));
                    };
                    let in_rule = |e| ConfigError::Rule {
                        index: i,
                        error: Box::new(e),
                    };
                    let matcher = RuleMatch::parse(rule, &mut warnings).map_err(in_rule)?;
                    let mut body = rule.clone();
                    for key in MATCH_KEYS {
                        body.remove(key);
                    }
                    let config =
                        parse_rule(&body, &global_json, global.as_deref()).map_err(in_rule)?;
                    rules.push(Rule {
                        matcher,
                        config: Rc::new(config),
                    });
                }
            }
            Some(other) => return Err(ConfigError::RulesNotAList(other.to_string())),
        }
        Ok(RuleSet {
            global,
            rules,
            warnings,
        })
    }

    /// The config for a request: the first matching rule's, else the global one, else none
    /// (the plugin is skipped).
    pub fn select(&self, key: &RequestKey<'_>) -> Option<&Rc<C>> {
        self.rules
            .iter()
            .find(|r| r.matcher.matches(key))
            .map(|r| &r.config)
            .or(self.global.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn name_of(v: &Map<String, Value>) -> Result<String, ConfigError> {
        Ok(v.get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string())
    }

    fn parse(config: Value) -> Result<RuleSet<String>, ConfigError> {
        let Value::Object(map) = config else {
            panic!("object")
        };
        RuleSet::parse(&map, &name_of, &|rule, _, _| name_of(rule))
    }

    #[test]
    fn the_matching_table() {
        let set = parse(json!({
            "name": "global",
            "_rules_": [
                {"_match_route_": ["route-a", "route-b"], "name": "routes"},
                {"_match_domain_": ["*.example.com"], "name": "suffix"},
                {"_match_domain_": ["www.*"], "name": "prefix"},
                {"_match_domain_": ["exact.test.com"], "name": "exact"},
                {"_match_service_": ["svc.dns"], "name": "service"},
                {"_match_service_": ["svc.static:8080"], "name": "service-port"},
                {"_match_route_": ["route-c"], "_match_service_": ["both.dns"], "name": "route+service"},
                {"_match_route_prefix_": ["api-"], "name": "route-prefix"},
                {"_match_route_": ["route-a"], "name": "shadowed"}
            ]
        }))
        .unwrap();
        let pick = |route: &str, host: &str, cluster: &str| {
            set.select(&RequestKey {
                route,
                host,
                cluster,
            })
            .map(|c| c.to_string())
        };
        let table = [
            ("route-a", "x.com", "", "routes"),
            ("route-b", "a.example.com", "", "routes"),
            ("r", "a.example.com", "", "suffix"),
            ("r", "a.example.com:8080", "", "suffix"),
            ("r", "www.other.org", "", "prefix"),
            ("r", "exact.test.com", "", "exact"),
            ("r", "exact.test.com.cn", "", "global"),
            ("r", "h", "outbound|80||svc.dns", "service"),
            ("r", "h", "outbound|8080||svc.static", "service-port"),
            ("r", "h", "outbound|9090||svc.static", "global"),
            ("r", "h", "svc.dns", "global"),
            ("route-c", "h", "outbound|80||both.dns", "route+service"),
            ("route-c", "h", "outbound|80||other.dns", "global"),
            ("api-users", "h", "", "route-prefix"),
            ("nope", "nothing.org", "outbound|1||x", "global"),
        ];
        for (route, host, cluster, want) in table {
            assert_eq!(
                pick(route, host, cluster).as_deref(),
                Some(want),
                "{route} {host} {cluster}"
            );
        }
    }

    #[test]
    fn no_global_and_no_match_skips() {
        let set = parse(json!({"_rules_": [{"_match_domain_": ["*"], "name": "all"}]})).unwrap();
        assert!(set.global.is_none());
        let key = RequestKey {
            route: "r",
            host: "anything:1",
            cluster: "",
        };
        assert_eq!(set.select(&key).map(|c| c.as_str()), Some("all"));
        let set = parse(json!({"_rules_": [{"_match_route_": ["x"], "name": "x"}]})).unwrap();
        assert!(set.select(&key).is_none());
    }

    #[test]
    fn empty_object_is_a_global_config() {
        let set = parse(json!({})).unwrap();
        assert!(set.global.is_some());
        assert!(set.rules.is_empty());
    }

    #[test]
    fn a_rule_without_match_keys_fails() {
        let err = parse(json!({"_rules_": [{"name": "x"}]})).unwrap_err();
        assert!(err.to_string().starts_with("_rules_[0]: "), "{err}");
        let err = parse(json!({"_rules_": [{"_match_route_": [], "name": "x"}]})).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Rule {
                index: 0,
                error: Box::new(ConfigError::NoMatchKey)
            }
        );
        assert!(err.to_string().contains("at least one"), "{err}");
    }

    #[test]
    fn ignored_keys_are_reported() {
        let set = parse(json!({"_rules_": [
            {"_match_route_": ["r"], "_match_domain_": ["d"], "name": "x"},
            {"_match_domain_": ["d"], "_match_service_": ["s"], "name": "y"}
        ]}))
        .unwrap();
        assert_eq!(set.rules[0].matcher.category, Category::Route);
        assert_eq!(set.rules[1].matcher.category, Category::Host);
        assert_eq!(set.warnings.len(), 2, "{:?}", set.warnings);
    }

    #[test]
    fn match_keys_are_removed_before_rule_parsing() {
        let Value::Object(map) = json!({"_rules_": [{"_match_route_": ["r"], "a": 1}]}) else {
            unreachable!()
        };
        let set = RuleSet::parse(&map, &|_| Ok(Vec::new()), &|rule, _, _| {
            Ok(rule.keys().cloned().collect::<Vec<_>>())
        })
        .unwrap();
        assert_eq!(*set.rules[0].config, vec!["a".to_string()]);
    }

    #[test]
    fn ports_and_ipv6() {
        assert_eq!(strip_port("a.com:80"), "a.com");
        assert_eq!(strip_port("a.com"), "a.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
