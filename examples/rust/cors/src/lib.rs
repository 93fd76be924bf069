//! `cors`: Higress's CORS plugin on wasmgate-sdk.
//!
//! Config: `allow_origins` (exact origins, or `*`), `allow_origin_patterns` (`*` anywhere
//! in the host, optional port list: `https://*.example.com:[8080,9090]` or `:[*]`),
//! `allow_methods`, `allow_headers`, `expose_headers` (each a list; `*` allows all),
//! `allow_credentials` (`*` origins cannot be combined with it), `max_age` (seconds,
//! default 1728000). Defaults: origins `*` when neither origins nor patterns nor
//! credentials are set; methods `GET,PUT,POST,DELETE,PATCH,OPTIONS`; headers
//! `DNT,X-CustomHeader,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Authorization`.
//!
//! A request is a CORS request when it has an `Origin` whose scheme, host or port differs
//! from the request's. A CORS request whose origin, method, or (pre-flight) requested
//! headers are not allowed gets `403 Invalid CORS request`. A pre-flight (`OPTIONS` with
//! `Origin` and `Access-Control-Request-Method`) is answered with 200 and the CORS headers.
//! On the response, upstream CORS headers are removed, `X-Cors-Version: 1.0.0` is added
//! and, for a valid CORS request, `Access-Control-Allow-Origin`, `…-Allow-Methods`,
//! `…-Allow-Headers` (pre-flight), `…-Expose-Headers`, `…-Allow-Credentials`,
//! `…-Max-Age` (pre-flight).
//!
//! Differences from the Go plugin: the default methods are really split (Go splits them
//! on a full-width comma, so its default list allows no method); origin patterns are
//! anchored (Go's regexp is not, so `https://*.a.com` also matched `https://x.a.com.evil`);
//! the pre-flight reply carries the CORS headers itself instead of relying on the
//! response-headers phase running for a local reply.

use wasmgate_sdk::prelude::*;

const MATCH_ALL: &str = "*";
const DEFAULT_ALLOW_METHODS: &str = "GET,PUT,POST,DELETE,PATCH,OPTIONS";
const DEFAULT_ALLOW_HEADERS: &str = "DNT,X-CustomHeader,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Authorization";
const DEFAULT_MAX_AGE: i64 = 1_728_000;

#[derive(Debug, Clone)]
struct OriginPattern {
    declared: String,
    /// The pattern before the port list, with `*` as a wildcard.
    host_glob: String,
    /// `None`: no port list; `Some(empty)`: any port or none; else these ports.
    ports: Option<Vec<String>>,
}

impl OriginPattern {
    fn parse(declared: &str) -> Self {
        let declared = declared.trim_end_matches('/').to_lowercase();
        let mut host_glob = declared.clone();
        let mut ports = None;
        if let Some(open) = declared.rfind(":[") {
            if let Some(list) = declared[open + 2..].strip_suffix(']') {
                let valid = list == "*"
                    || list
                        .split(',')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
                if valid {
                    host_glob = declared[..open].to_string();
                    ports = Some(if list == "*" {
                        Vec::new()
                    } else {
                        list.split(',').map(str::to_string).collect()
                    });
                }
            }
        }
        OriginPattern {
            declared,
            host_glob,
            ports,
        }
    }

    fn matches(&self, origin: &str) -> bool {
        if self.declared == MATCH_ALL {
            return true;
        }
        match &self.ports {
            None => glob(&self.host_glob, origin),
            Some(ports) => {
                if ports.is_empty() && glob(&self.host_glob, origin) {
                    return true;
                }
                match origin.rsplit_once(':') {
                    Some((rest, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
                        (ports.is_empty() || ports.iter().any(|p| p == port))
                            && glob(&self.host_glob, rest)
                    }
                    _ => false,
                }
            }
        }
    }
}

/// Whole-string match where `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[derive(Debug, Default)]
struct CorsConfig {
    allow_origins: Vec<String>,
    allow_origin_patterns: Vec<OriginPattern>,
    allow_methods: Vec<String>,
    allow_headers: Vec<String>,
    expose_headers: Vec<String>,
    allow_credentials: bool,
    max_age: i64,
}

fn list(json: &Value, key: &str) -> Vec<String> {
    json[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Adds to a list where `*` replaces everything.
fn add(list: &mut Vec<String>, item: String) {
    if item == MATCH_ALL {
        *list = vec![MATCH_ALL.to_string()];
    } else if list.first().map(String::as_str) != Some(MATCH_ALL) {
        list.push(item);
    }
}

fn parse_config(json: &Value) -> Result<CorsConfig> {
    let mut c = CorsConfig::default();
    for origin in list(json, "allow_origins") {
        add(
            &mut c.allow_origins,
            origin.trim_end_matches('/').to_string(),
        );
    }
    for pattern in list(json, "allow_origin_patterns") {
        c.allow_origin_patterns.push(OriginPattern::parse(&pattern));
    }
    for method in list(json, "allow_methods") {
        add(&mut c.allow_methods, method.to_uppercase());
    }
    for header in list(json, "allow_headers") {
        add(&mut c.allow_headers, header);
    }
    for header in list(json, "expose_headers") {
        add(&mut c.expose_headers, header);
    }
    let credentials = json["allow_credentials"].as_bool().unwrap_or(false);
    if credentials && c.allow_origins.first().map(String::as_str) == Some(MATCH_ALL) {
        warn!("can't set allowCredentials to true when allowOrigin is *");
    } else {
        c.allow_credentials = credentials;
    }
    c.max_age = json["max_age"]
        .as_i64()
        .filter(|a| *a > 0)
        .unwrap_or(DEFAULT_MAX_AGE);
    if c.allow_origins.is_empty() && c.allow_origin_patterns.is_empty() && !c.allow_credentials {
        c.allow_origins = vec![MATCH_ALL.to_string()];
    }
    if c.allow_headers.is_empty() {
        c.allow_headers = DEFAULT_ALLOW_HEADERS
            .split(',')
            .map(str::to_string)
            .collect();
    }
    if c.allow_methods.is_empty() {
        c.allow_methods = DEFAULT_ALLOW_METHODS
            .split(',')
            .map(str::to_string)
            .collect();
    }
    Ok(c)
}

/// The outcome for one request, kept for the response phase.
#[derive(Debug, Clone, Default)]
struct CorsContext {
    valid: bool,
    reason: String,
    preflight: bool,
    cors: bool,
    allow_origin: String,
    allow_methods: String,
    allow_headers: String,
    expose_headers: String,
    allow_credentials: bool,
    max_age: i64,
}

fn host_and_port(scheme: &str, host: &str) -> (String, String) {
    let host = host.to_lowercase();
    let (host, mut port) = match host.split_once(':') {
        Some((h, p)) => (h.to_string(), p.to_string()),
        None => (host.clone(), String::new()),
    };
    if port.is_empty() {
        port = match scheme {
            "http" => "80".into(),
            "https" => "443".into(),
            _ => String::new(),
        };
    }
    (host, port)
}

impl CorsConfig {
    fn is_cors_request(&self, scheme: &str, host: &str, origin: &str) -> bool {
        if origin.is_empty() {
            return false;
        }
        let Some((origin_scheme, rest)) = origin.split_once("://") else {
            // Go's url.Parse gives an empty scheme, which differs from the request's.
            return !scheme.is_empty();
        };
        let origin_scheme = origin_scheme.to_lowercase();
        if scheme != origin_scheme {
            return true;
        }
        let origin_host = rest.split(['/', '?', '#']).next().unwrap_or("");
        host_and_port(scheme, host) != host_and_port(&origin_scheme, origin_host)
    }

    fn check_origin(&self, origin: &str) -> Option<String> {
        if origin.is_empty() {
            return None;
        }
        let lower = origin.to_lowercase();
        for allowed in &self.allow_origins {
            if allowed == MATCH_ALL {
                return Some(MATCH_ALL.into());
            }
            if allowed.to_lowercase() == lower {
                return Some(origin.to_string());
            }
        }
        self.allow_origin_patterns
            .iter()
            .any(|p| p.matches(&lower))
            .then(|| origin.to_string())
    }

    fn check_method(&self, method: &str) -> Option<String> {
        if method.is_empty() {
            return None;
        }
        for allowed in &self.allow_methods {
            if allowed == MATCH_ALL {
                return Some(MATCH_ALL.into());
            }
            if allowed.eq_ignore_ascii_case(method) {
                return Some(self.allow_methods.join(","));
            }
        }
        None
    }

    fn check_headers(&self, requested: &str) -> Option<String> {
        if requested.is_empty() {
            return Some(self.allow_headers.join(","));
        }
        if self.allow_headers.first().map(String::as_str) == Some(MATCH_ALL) {
            return Some(requested.to_string());
        }
        let all_allowed = requested.split(',').all(|h| {
            self.allow_headers
                .iter()
                .any(|a| a.eq_ignore_ascii_case(h.trim()))
        });
        all_allowed.then(|| self.allow_headers.join(","))
    }

    fn process(&self, ctx: &HttpContext) -> CorsContext {
        let scheme = ctx.scheme().trim().to_lowercase();
        let host = ctx.host().trim().to_lowercase();
        let method = ctx.method().trim().to_string();
        let origin = ctx
            .request_header("origin")
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .unwrap_or_default();
        let request_method = ctx
            .request_header("access-control-request-method")
            .map(|m| m.trim().to_string())
            .unwrap_or_default();
        let request_headers = ctx
            .request_header("access-control-request-headers")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        let mut out = CorsContext {
            valid: true,
            cors: self.is_cors_request(&scheme, &host, &origin),
            preflight: !origin.is_empty()
                && method.eq_ignore_ascii_case("OPTIONS")
                && !request_method.is_empty(),
            ..CorsContext::default()
        };
        if !out.cors {
            return out;
        }
        let invalid = |mut out: CorsContext, reason: String| {
            out.valid = false;
            out.reason = reason;
            out
        };
        let Some(allow_origin) = self.check_origin(&origin) else {
            return invalid(out, format!("origin:{origin} is not allowed"));
        };
        let checked_method = if out.preflight {
            &request_method
        } else {
            &method
        };
        let Some(allow_methods) = self.check_method(checked_method) else {
            return invalid(out, format!("method:{checked_method} is not allowed"));
        };
        let allow_headers = self.check_headers(&request_headers);
        if out.preflight && allow_headers.is_none() {
            return invalid(out, "headers are not allowed".into());
        }
        out.allow_origin = allow_origin;
        if out.preflight {
            out.allow_methods = allow_methods;
            out.allow_headers = allow_headers.unwrap_or_default();
            out.max_age = self.max_age;
        }
        out.expose_headers = self.expose_headers.join(",");
        out.allow_credentials = self.allow_credentials;
        out
    }
}

impl CorsContext {
    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        if !self.allow_origin.is_empty() {
            h.push(("Access-Control-Allow-Origin", self.allow_origin.clone()));
        }
        if !self.allow_methods.is_empty() {
            h.push(("Access-Control-Allow-Methods", self.allow_methods.clone()));
        }
        if !self.allow_headers.is_empty() {
            h.push(("Access-Control-Allow-Headers", self.allow_headers.clone()));
        }
        if !self.expose_headers.is_empty() {
            h.push(("Access-Control-Expose-Headers", self.expose_headers.clone()));
        }
        if self.allow_credentials {
            h.push(("Access-Control-Allow-Credentials", "true".into()));
        }
        if self.max_age > 0 {
            h.push(("Access-Control-Max-Age", self.max_age.to_string()));
        }
        h
    }
}

fn on_request_headers(ctx: &HttpContext, config: &CorsConfig) -> Result<HeaderAction> {
    let cors = config.process(ctx);
    debug!("cors: {cors:?}");
    ctx.insert(cors.clone());
    if !cors.valid {
        info!("invalid CORS request: {}", cors.reason);
        return ctx.send_response(403, &[], "Invalid CORS request");
    }
    if cors.preflight {
        let headers = cors.headers();
        let mut pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.push(("X-Cors-Version", "1.0.0"));
        return ctx.send_response(200, &pairs, "");
    }
    Ok(HeaderAction::Continue)
}

fn on_response_headers(ctx: &HttpContext, _config: &CorsConfig) -> Result<HeaderAction> {
    for name in [
        "X-Cors-Trace",
        "X-Cors-Version",
        "Access-Control-Allow-Origin",
        "Access-Control-Allow-Methods",
        "Access-Control-Allow-Headers",
        "Access-Control-Expose-Headers",
        "Access-Control-Allow-Credentials",
        "Access-Control-Max-Age",
    ] {
        ctx.remove_response_header(name)?;
    }
    ctx.add_response_header("X-Cors-Version", "1.0.0")?;
    let Some(cors) = ctx.get::<CorsContext>() else {
        return Ok(HeaderAction::Continue);
    };
    if !cors.valid || !cors.cors {
        return Ok(HeaderAction::Continue);
    }
    for (name, value) in cors.headers() {
        ctx.add_response_header(name, value)?;
    }
    Ok(HeaderAction::Continue)
}

wasmgate_sdk::plugin! {
    name: "cors",
    config: CorsConfig,
    parse: parse_config,
    on_request_headers,
    on_response_headers,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_ports() {
        assert!(glob("https://*.example.com", "https://a.example.com"));
        assert!(!glob("https://*.example.com", "https://a.example.com.evil"));
        let p = OriginPattern::parse("https://*.example.com:[8080,9090]");
        assert!(p.matches("https://a.example.com:8080"));
        assert!(!p.matches("https://a.example.com:7070"));
        assert!(!p.matches("https://a.example.com"));
        let any = OriginPattern::parse("http://*.a.org:[*]");
        assert!(any.matches("http://x.a.org"));
        assert!(any.matches("http://x.a.org:81"));
    }
}
