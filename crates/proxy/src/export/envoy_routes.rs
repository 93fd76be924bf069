//! The route configuration of an Envoy export, matching as wasmgate matches: routes in
//! order, first match wins, by domain, path (prefix, exact, regex), method, headers and
//! query parameters.
//!
//! Envoy first picks one virtual host by domain, then a route inside it. When every domain
//! the routes name is exact, each gets a virtual host with the routes that take it (or take
//! every host), in order, and a `*` host keeps the routes that take every host. With a
//! wildcard domain (`*.a.com`, `www.*`) Envoy's "most specific domain wins" would pick other
//! routes than wasmgate's order does, so there is one `*` host and each route checks the
//! `:authority` itself, by a regex.

use serde_json::{json, Value};

use super::json::{duration, value_match};
use crate::config::{GatewayConfig, PathMatch, RouteSpec};

/// The `route_config` of the connection manager.
pub(super) fn route_config(config: &GatewayConfig, notes: &mut Vec<String>) -> Value {
    let body_limit =
        (config.body_limit != GatewayConfig::new().body_limit).then_some(config.body_limit);
    if body_limit.is_none() && config.routes.iter().any(|r| r.buffer_limit.is_none()) {
        notes.push(
            "body_limit_bytes: Envoy buffers at most its listener's \
             per_connection_buffer_limit_bytes (1 MiB by default) where wasmgate holds 10 MiB"
                .to_string(),
        );
    }
    let hosts = if config
        .routes
        .iter()
        .any(|r| r.domains.iter().any(|d| is_wildcard(d)))
    {
        vec![virtual_host(
            "all",
            &["*".to_string()],
            config.routes.iter(),
            true,
            body_limit,
        )]
    } else {
        by_exact_domain(&config.routes, body_limit)
    };
    json!({
        "name": "wasmgate",
        // wasmgate matches domains without the port, as Higress's routes do.
        "ignore_port_in_host_matching": true,
        "virtual_hosts": hosts
    })
}

fn is_wildcard(domain: &str) -> bool {
    domain != "*" && domain.contains('*')
}

/// Whether a route takes every host (no domains, or `*` among them).
fn any_host(route: &RouteSpec) -> bool {
    route.domains.is_empty() || route.domains.iter().any(|d| d == "*")
}

/// A virtual host per exact domain, then `*`.
fn by_exact_domain(routes: &[RouteSpec], body_limit: Option<usize>) -> Vec<Value> {
    let mut domains: Vec<String> = Vec::new();
    for route in routes.iter().filter(|r| !any_host(r)) {
        for domain in &route.domains {
            let domain = domain.to_ascii_lowercase();
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
    }
    let mut hosts: Vec<Value> = domains
        .iter()
        .map(|domain| {
            let taking = routes.iter().filter(|r| {
                any_host(r) || r.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
            });
            virtual_host(
                domain,
                std::slice::from_ref(domain),
                taking,
                false,
                body_limit,
            )
        })
        .collect();
    let rest = routes.iter().filter(|r| any_host(r));
    hosts.push(virtual_host(
        "all",
        &["*".to_string()],
        rest,
        false,
        body_limit,
    ));
    hosts
}

fn virtual_host<'a>(
    name: &str,
    domains: &[String],
    routes: impl Iterator<Item = &'a RouteSpec>,
    check_authority: bool,
    body_limit: Option<usize>,
) -> Value {
    let routes: Vec<Value> = routes
        .map(|r| route(r, check_authority, body_limit))
        .collect();
    json!({"name": name, "domains": domains, "routes": routes})
}

fn route(route: &RouteSpec, check_authority: bool, body_limit: Option<usize>) -> Value {
    let mut matcher = match &route.path {
        PathMatch::Any => json!({"prefix": "/"}),
        PathMatch::Prefix(prefix) => json!({ "prefix": prefix }),
        PathMatch::Exact(path) => json!({ "path": path }),
        PathMatch::Regex(re) => json!({"safe_regex": {"regex": re.as_str()}}),
    };
    let mut headers = Vec::new();
    if check_authority && !any_host(route) {
        headers.push(json!({
            "name": ":authority",
            "string_match": {"safe_regex": {"regex": authority_regex(&route.domains)}}
        }));
    }
    match route.methods.as_slice() {
        [] => {}
        [method] => headers.push(json!({"name": ":method", "string_match": {"exact": method}})),
        methods => {
            let any: Vec<String> = methods.iter().map(|m| regex::escape(m)).collect();
            headers.push(json!({
                "name": ":method",
                "string_match": {"safe_regex": {"regex": format!("(?:{})", any.join("|"))}}
            }));
        }
    }
    for header in &route.headers {
        let (key, value) = value_match(&header.value);
        let mut out = json!({"name": header.name});
        out[key] = value;
        if header.invert {
            out["invert_match"] = json!(true);
        }
        headers.push(out);
    }
    if !headers.is_empty() {
        matcher["headers"] = json!(headers);
    }
    if !route.query.is_empty() {
        let query: Vec<Value> = route
            .query
            .iter()
            .map(|q| {
                let (key, value) = value_match(&q.value);
                let mut out = json!({"name": q.name});
                out[key] = value;
                out
            })
            .collect();
        matcher["query_parameters"] = json!(query);
    }
    let mut action = json!({"cluster": route.cluster, "timeout": duration(route.timeout)});
    if let Some(host) = &route.host_rewrite {
        action["host_rewrite_literal"] = json!(host);
    }
    if let Some(max) = route.grpc_timeout_header_max {
        action["max_stream_duration"] = json!({"grpc_timeout_header_max": duration(max)});
    }
    if !route.upgrades.is_empty() {
        let upgrades: Vec<Value> = route
            .upgrades
            .iter()
            .map(|u| json!({"upgrade_type": u.upgrade_type, "enabled": u.enabled}))
            .collect();
        action["upgrade_configs"] = json!(upgrades);
    }
    let mut out = json!({"name": route.name, "match": matcher, "route": action});
    if let Some(limit) = route.buffer_limit.or(body_limit) {
        out["request_body_buffer_limit"] = json!(limit);
    }
    out
}

/// A regex over the whole `:authority` that takes the hosts `domains` take, with or without
/// a port, case-insensitively (as [`crate::config::domain_matches`]).
fn authority_regex(domains: &[String]) -> String {
    let alternatives: Vec<String> = domains
        .iter()
        .map(|d| {
            if let Some(suffix) = d.strip_prefix('*') {
                format!(".+{}", regex::escape(suffix))
            } else if let Some(prefix) = d.strip_suffix('*') {
                format!("{}.+", regex::escape(prefix))
            } else {
                regex::escape(d)
            }
        })
        .collect();
    format!("(?i)(?:{})(?::[0-9]+)?", alternatives.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::domain_matches;

    #[test]
    fn the_authority_regex_takes_what_the_domains_take() {
        let domains = [
            "*.a.com".to_string(),
            "www.*".to_string(),
            "B.com".to_string(),
        ];
        let re = regex::Regex::new(&format!("^(?:{})$", authority_regex(&domains))).unwrap();
        for host in [
            "x.a.com",
            "x.a.com:8080",
            "www.z.org",
            "b.com",
            "B.COM:1",
            "a.com",
            "c.com",
        ] {
            let bare = host.split(':').next().unwrap();
            let expected = domains.iter().any(|d| domain_matches(d, bare));
            assert_eq!(re.is_match(host), expected, "{host}");
        }
    }
}
