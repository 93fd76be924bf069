//! What a route matches besides domains and path: the method, request headers and query
//! parameters, with the meaning of Envoy's `RouteMatch` (`headers`, `query_parameters`, a
//! method being a `:method` header match) and of Higress's Ingress annotations
//! (`higress.io/exact-match-header-*`, `higress.io/match-method`, ...).
//!
//! The matchers read the request head as the plugins left it: a [`HeaderMap`] with the
//! `:method`, `:authority` and `:path` pseudo-headers. They hold checked values only; the
//! `routes` loader builds them from `wasmgate.yaml`.

use regex::bytes::Regex;
use wasmgate_host::HeaderMap;

/// How a header's or query parameter's value is compared (case-sensitive, as Envoy).
#[derive(Debug, Clone)]
pub enum ValueMatch {
    /// The value is exactly this.
    Exact(String),
    /// The value starts with this.
    Prefix(String),
    /// The regular expression matches the whole value.
    Regex(Regex),
    /// The name is there (`true`) or is not (`false`), whatever its value.
    Present(bool),
}

impl ValueMatch {
    /// A regular expression that must match a whole value (as Envoy's `safe_regex`).
    pub fn full_regex(pattern: &str) -> Result<ValueMatch, regex::Error> {
        Regex::new(&format!("^(?:{pattern})$")).map(ValueMatch::Regex)
    }

    /// Whether `value` (`None`: the name is absent) matches, before any inversion.
    fn matches(&self, value: Option<&[u8]>) -> bool {
        match (self, value) {
            (ValueMatch::Present(present), value) => *present == value.is_some(),
            (_, None) => false,
            (ValueMatch::Exact(exact), Some(value)) => value == exact.as_bytes(),
            (ValueMatch::Prefix(prefix), Some(value)) => value.starts_with(prefix.as_bytes()),
            (ValueMatch::Regex(re), Some(value)) => re.is_match(value),
        }
    }
}

/// One of a route's `headers`: Envoy's `HeaderMatcher`.
#[derive(Debug, Clone)]
pub struct HeaderMatch {
    /// The header's name, lower-case (pseudo-headers such as `:authority` too).
    pub name: String,
    /// How its value is compared. Several values of the header are joined with `,` first.
    pub value: ValueMatch,
    /// Envoy's `invert_match`: the route takes requests this matcher refuses. An absent
    /// header still matches no inverted value matcher (as Envoy): only `present` is
    /// inverted for it.
    pub invert: bool,
}

impl HeaderMatch {
    /// Whether the request's headers pass this matcher.
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        let value = headers.get(self.name.as_bytes());
        if value.is_none() && !matches!(self.value, ValueMatch::Present(_)) {
            return false;
        }
        self.value.matches(value.as_deref()) != self.invert
    }
}

/// One of a route's `query_parameters`: Envoy's `QueryParameterMatcher`. Its value is the
/// one in the URL, not percent-decoded; when the parameter is repeated, the first counts.
#[derive(Debug, Clone)]
pub struct QueryMatch {
    /// The parameter's name (case-sensitive, as written in the URL).
    pub name: String,
    /// How its value is compared (a parameter without `=` has the empty value). `Present`
    /// is always `true`: Envoy has no absent match for query parameters.
    pub value: ValueMatch,
}

impl QueryMatch {
    /// Whether the request's query passes this matcher.
    pub fn matches(&self, query: &Query<'_>) -> bool {
        self.value.matches(query.first(&self.name))
    }
}

/// The parameters of a `:path`'s query, in order, neither name nor value decoded (as
/// Envoy's route matching reads them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query<'a> {
    /// `(name, value)` pairs; a parameter without `=` has the empty value.
    pub params: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> Query<'a> {
    /// The query of `path`: what follows its first `?` (none: no parameters).
    pub fn parse(path: &'a [u8]) -> Query<'a> {
        let Some(start) = path.iter().position(|&b| b == b'?') else {
            return Query::default();
        };
        let params = path[start + 1..]
            .split(|&b| b == b'&')
            .filter(|param| !param.is_empty())
            .map(|param| match param.iter().position(|&b| b == b'=') {
                Some(eq) => (&param[..eq], &param[eq + 1..]),
                None => (param, &param[param.len()..]),
            })
            .collect();
        Query { params }
    }

    /// The value of the first parameter named `name`.
    pub fn first(&self, name: &str) -> Option<&'a [u8]> {
        self.params
            .iter()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| *v)
    }
}

/// Whether the request's `:method` is one of `methods` (exactly; none listed: any method).
pub fn method_matches(methods: &[String], headers: &HeaderMap) -> bool {
    methods.is_empty()
        || headers
            .first(b":method")
            .is_some_and(|method| methods.iter().any(|m| m.as_bytes() == method))
}

/// Whether the request passes every matcher of `headers` and `query` (none: it passes).
pub fn request_matches(headers: &[HeaderMatch], query: &[QueryMatch], map: &HeaderMap) -> bool {
    if !headers.iter().all(|h| h.matches(map)) {
        return false;
    }
    if query.is_empty() {
        return true;
    }
    let path = map.first(b":path").unwrap_or(b"/");
    let params = Query::parse(path);
    query.iter().all(|q| q.matches(&params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: ValueMatch, invert: bool) -> HeaderMatch {
        HeaderMatch {
            name: name.to_string(),
            value,
            invert,
        }
    }

    fn exact(text: &str) -> ValueMatch {
        ValueMatch::Exact(text.to_string())
    }

    fn regex(pattern: &str) -> ValueMatch {
        ValueMatch::full_regex(pattern).expect("a valid test regex")
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from_pairs(pairs)
    }

    #[test]
    fn each_kind_of_header_match() {
        let request = map(&[("x-user", "alice"), ("x-tier", "gold-plus"), ("x-id", "42")]);
        assert!(header("x-user", exact("alice"), false).matches(&request));
        assert!(!header("x-user", exact("Alice"), false).matches(&request));
        assert!(!header("x-user", exact("ali"), false).matches(&request));
        assert!(header("x-tier", ValueMatch::Prefix("gold".into()), false).matches(&request));
        assert!(!header("x-tier", ValueMatch::Prefix("silver".into()), false).matches(&request));
        assert!(header("x-id", regex("[0-9]+"), false).matches(&request));
        assert!(
            !header("x-id", regex("[0-9]"), false).matches(&request),
            "full match"
        );
        assert!(
            header("x-id", regex("4|42"), false).matches(&request),
            "not first-found"
        );
        assert!(header("x-user", ValueMatch::Present(true), false).matches(&request));
        assert!(!header("x-none", ValueMatch::Present(true), false).matches(&request));
        assert!(header("x-none", ValueMatch::Present(false), false).matches(&request));
        assert!(!header("x-user", ValueMatch::Present(false), false).matches(&request));
    }

    #[test]
    fn inverted_header_matches_and_absent_headers_as_envoy() {
        let request = map(&[("x-env", "staging")]);
        assert!(header("x-env", exact("prod"), true).matches(&request));
        assert!(!header("x-env", exact("staging"), true).matches(&request));
        // An absent header matches no inverted value matcher, only an inverted `present`.
        assert!(!header("x-other", exact("prod"), true).matches(&request));
        assert!(header("x-other", ValueMatch::Present(true), true).matches(&request));
        assert!(!header("x-env", ValueMatch::Present(true), true).matches(&request));
        assert!(!header("x-other", ValueMatch::Present(false), true).matches(&request));
    }

    #[test]
    fn several_values_of_a_header_are_joined_with_commas() {
        let request = map(&[("x-tag", "a"), ("other", "z"), ("x-tag", "b")]);
        assert!(header("x-tag", exact("a,b"), false).matches(&request));
        assert!(!header("x-tag", exact("a"), false).matches(&request));
        assert!(header("x-tag", regex("a,.*"), false).matches(&request));
    }

    #[test]
    fn header_names_are_case_insensitive_and_values_are_not() {
        let request = map(&[("X-User", "Alice")]);
        assert!(header("x-user", exact("Alice"), false).matches(&request));
        assert!(!header("x-user", exact("alice"), false).matches(&request));
    }

    #[test]
    fn pseudo_headers_and_methods_match() {
        let request = map(&[(":method", "POST"), (":authority", "a.com"), (":path", "/")]);
        assert!(header(":authority", exact("a.com"), false).matches(&request));
        assert!(method_matches(&[], &request));
        assert!(method_matches(&["GET".into(), "POST".into()], &request));
        assert!(!method_matches(&["GET".into()], &request));
        assert!(
            !method_matches(&["post".into()], &request),
            "exact, as Envoy"
        );
    }

    #[test]
    fn queries_parse_raw_with_first_value_and_empty_values() {
        let query = Query::parse(b"/p?v=2&flag&q=a%20b&v=3&&e=");
        assert_eq!(query.first("v"), Some(&b"2"[..]), "the first of repeated");
        assert_eq!(query.first("flag"), Some(&b""[..]), "no `=`: empty value");
        assert_eq!(query.first("q"), Some(&b"a%20b"[..]), "not decoded");
        assert_eq!(query.first("e"), Some(&b""[..]));
        assert_eq!(query.first("V"), None, "names are case-sensitive");
        assert_eq!(query.first("missing"), None);
        assert_eq!(Query::parse(b"/p").params.len(), 0);
        assert_eq!(Query::parse(b"/p?").params.len(), 0);
        assert_eq!(Query::parse(b"/p?a=b=c").first("a"), Some(&b"b=c"[..]));
    }

    #[test]
    fn each_kind_of_query_match() {
        let query_match = |name: &str, value: ValueMatch| QueryMatch {
            name: name.to_string(),
            value,
        };
        let query = Query::parse(b"/x?v=2&beta=on1&q=abc&debug&n=a%20b");
        assert!(query_match("v", exact("2")).matches(&query));
        assert!(!query_match("v", exact("22")).matches(&query));
        assert!(query_match("beta", ValueMatch::Prefix("on".into())).matches(&query));
        assert!(query_match("q", regex("[a-z]+")).matches(&query));
        assert!(!query_match("v", regex("[a-z]+")).matches(&query));
        assert!(query_match("debug", ValueMatch::Present(true)).matches(&query));
        assert!(query_match("debug", exact("")).matches(&query));
        assert!(!query_match("nope", ValueMatch::Present(true)).matches(&query));
        assert!(!query_match("nope", exact("")).matches(&query));
        assert!(query_match("n", exact("a%20b")).matches(&query));
        assert!(!query_match("n", exact("a b")).matches(&query));
    }

    #[test]
    fn every_matcher_of_a_route_must_pass() {
        let headers = [
            header("x-user", exact("alice"), false),
            header("x-skip", ValueMatch::Present(false), false),
        ];
        let query = [QueryMatch {
            name: "v".into(),
            value: exact("2"),
        }];
        let good = map(&[(":path", "/a?v=2"), ("x-user", "alice")]);
        assert!(request_matches(&headers, &query, &good));
        let skipped = map(&[(":path", "/a?v=2"), ("x-user", "alice"), ("x-skip", "1")]);
        assert!(!request_matches(&headers, &query, &skipped));
        let old = map(&[(":path", "/a?v=1"), ("x-user", "alice")]);
        assert!(!request_matches(&headers, &query, &old));
        assert!(request_matches(&[], &[], &old));
    }
}
