//! The `routes:` of a `wasmgate.yaml`: each entry checked into a [`RouteSpec`] (its cluster
//! known, its path, method, header and query conditions valid), or a [`ConfigError`] naming
//! the line and what to fix.

use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, Locator};
use super::route_match::{HeaderMatch, QueryMatch, ValueMatch};
use super::spec::{ClusterSpec, PathMatch, RouteSpec};
use super::upgrades::{upgrades, FileUpgrade};

/// A route as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRoute {
    name: String,
    #[serde(default)]
    domains: Vec<String>,
    path_prefix: Option<String>,
    path: Option<String>,
    path_regex: Option<String>,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    headers: Vec<FileMatcher>,
    #[serde(default)]
    query_parameters: Vec<FileMatcher>,
    cluster: String,
    timeout_ms: Option<u64>,
    grpc_timeout_header_max_ms: Option<u64>,
    buffer_limit_bytes: Option<usize>,
    host_rewrite: Option<String>,
    #[serde(default)]
    upgrade_configs: Vec<FileUpgrade>,
}

/// A header or query parameter condition as written: a name and one of exact, prefix,
/// regex, present (headers may also be inverted).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMatcher {
    name: String,
    exact: Option<String>,
    prefix: Option<String>,
    regex: Option<String>,
    present: Option<bool>,
    invert: Option<bool>,
}

/// Where a condition is, for its errors: the route, the list and its place there.
struct Place<'a> {
    at: &'a Locator<'a>,
    route: &'a str,
    list: &'static str,
    index: usize,
}

impl Place<'_> {
    fn error(&self, reason: &str) -> ConfigError {
        let anchors = [format!("name: {}", self.route), format!("{}:", self.list)];
        let anchors = [anchors[0].as_str(), anchors[1].as_str()];
        self.at.error_within(
            &anchors,
            "name:",
            self.index,
            &format!(
                "{} entry {} of route {}: {reason}",
                self.list,
                self.index + 1,
                self.route
            ),
        )
    }
}

/// The routes of a file, in order; each goes to a cluster of `clusters` (by name or alias).
pub(super) fn routes(
    at: &Locator<'_>,
    list: Vec<FileRoute>,
    clusters: &[ClusterSpec],
) -> Result<Vec<RouteSpec>, ConfigError> {
    let mut out: Vec<RouteSpec> = Vec::new();
    for route in list {
        if out.iter().any(|r| r.name == route.name) {
            return Err(at.error(
                &format!("name: {}", route.name),
                &format!(
                    "two routes are named {:?}: route names are what plugins' rules and the access log name, give each its own",
                    route.name
                ),
            ));
        }
        let cluster = clusters
            .iter()
            .find(|c| c.name == route.cluster || c.aliases.contains(&route.cluster))
            .ok_or_else(|| {
                at.error(
                    &format!("cluster: {}", route.cluster),
                    &format!(
                        "route {} goes to cluster {:?}, which no cluster names (by name or alias)",
                        route.name, route.cluster
                    ),
                )
            })?;
        let path = path_match(at, &route)?;
        let methods = methods(at, &route)?;
        let mut headers = Vec::new();
        for (index, matcher) in route.headers.iter().enumerate() {
            let place = Place {
                at,
                route: &route.name,
                list: "headers",
                index,
            };
            headers.push(header_match(&place, matcher)?);
        }
        let mut query = Vec::new();
        for (index, matcher) in route.query_parameters.iter().enumerate() {
            let place = Place {
                at,
                route: &route.name,
                list: "query_parameters",
                index,
            };
            query.push(query_match(&place, matcher)?);
        }
        let anchors = [
            format!("name: {}", route.name),
            "upgrade_configs:".to_string(),
        ];
        let upgrades = upgrades(
            at,
            &[anchors[0].as_str(), anchors[1].as_str()],
            &format!("route {}", route.name),
            route.upgrade_configs,
        )?;
        out.push(RouteSpec {
            name: route.name,
            domains: route.domains,
            path,
            cluster: cluster.name.clone(),
            timeout: Duration::from_millis(route.timeout_ms.unwrap_or(15_000)),
            grpc_timeout_header_max: route.grpc_timeout_header_max_ms.map(Duration::from_millis),
            buffer_limit: route.buffer_limit_bytes,
            host_rewrite: route.host_rewrite,
            methods,
            headers,
            query,
            upgrades,
        });
    }
    Ok(out)
}

fn path_match(at: &Locator<'_>, route: &FileRoute) -> Result<PathMatch, ConfigError> {
    Ok(match (&route.path_prefix, &route.path, &route.path_regex) {
        (None, None, None) => PathMatch::Any,
        (Some(prefix), None, None) => PathMatch::Prefix(prefix.clone()),
        (None, Some(exact), None) => PathMatch::Exact(exact.clone()),
        (None, None, Some(re)) => PathMatch::Regex(
            regex::Regex::new(re)
                .map_err(|e| at.error(re, &format!("path_regex of route {}: {e}", route.name)))?,
        ),
        _ => {
            return Err(at.error(
                &route.name,
                &format!(
                    "route {} has more than one of path_prefix, path and path_regex",
                    route.name
                ),
            ))
        }
    })
}

/// The route's `methods`: each an HTTP method token, compared with `:method` exactly.
fn methods(at: &Locator<'_>, route: &FileRoute) -> Result<Vec<String>, ConfigError> {
    for method in &route.methods {
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(at.error_within(
                &[&format!("name: {}", route.name)],
                "methods:",
                0,
                &format!(
                    "route {} has the method {method:?}; write methods as in the request line (GET, POST, ...)",
                    route.name
                ),
            ));
        }
    }
    Ok(route.methods.clone())
}

/// The value condition of a matcher: exactly one of exact, prefix, regex and present.
fn value_match(place: &Place<'_>, matcher: &FileMatcher) -> Result<ValueMatch, ConfigError> {
    if matcher.name.trim().is_empty() {
        return Err(place.error("the name is empty; give the header or parameter to match"));
    }
    let given = [
        matcher.exact.is_some(),
        matcher.prefix.is_some(),
        matcher.regex.is_some(),
        matcher.present.is_some(),
    ];
    let what = format!("{} {:?}", place.list, matcher.name);
    match given.iter().filter(|&&g| g).count() {
        1 => {}
        0 => {
            return Err(place.error(&format!(
                "{what} says nothing to match; give one of exact, prefix, regex or present"
            )))
        }
        _ => {
            return Err(place.error(&format!(
                "{what} has more than one of exact, prefix, regex and present; keep one (list the name twice for two conditions)"
            )))
        }
    }
    Ok(match matcher {
        FileMatcher {
            exact: Some(exact), ..
        } => ValueMatch::Exact(exact.clone()),
        FileMatcher {
            prefix: Some(prefix),
            ..
        } => ValueMatch::Prefix(prefix.clone()),
        FileMatcher {
            regex: Some(re), ..
        } => ValueMatch::full_regex(re).map_err(|e| {
            place.error(&format!(
                "the regex of {what} is not valid: {e}",
                e = e.to_string().replace('\n', " ")
            ))
        })?,
        FileMatcher {
            present: Some(present),
            ..
        } => ValueMatch::Present(*present),
        _ => ValueMatch::Present(true),
    })
}

/// A route's header condition (its name lower-cased: header names are case-insensitive).
fn header_match(place: &Place<'_>, matcher: &FileMatcher) -> Result<HeaderMatch, ConfigError> {
    Ok(HeaderMatch {
        name: matcher.name.trim().to_ascii_lowercase(),
        value: value_match(place, matcher)?,
        invert: matcher.invert.unwrap_or(false),
    })
}

/// A route's query parameter condition (its name case-sensitive, as in the URL).
fn query_match(place: &Place<'_>, matcher: &FileMatcher) -> Result<QueryMatch, ConfigError> {
    let value = value_match(place, matcher)?;
    if matcher.invert.is_some() {
        return Err(place.error(&format!(
            "query parameter {:?} has invert, which only headers take (as Envoy's QueryParameterMatcher); remove it",
            matcher.name
        )));
    }
    if matches!(value, ValueMatch::Present(false)) {
        return Err(place.error(&format!(
            "query parameter {:?} has present: false; Envoy matches present query parameters only, remove the condition or use present: true",
            matcher.name
        )));
    }
    Ok(QueryMatch {
        name: matcher.name.clone(),
        value,
    })
}
