//! `key-auth`: Higress's key-auth plugin on wasmgate-sdk, with the override config parser:
//! the global config holds the consumers and where keys are read; each rule adds `allow`.
//!
//! Global config: `consumers[{name, credential}]` (non-empty, credentials unique), `keys[]`
//! (non-empty), `in_header` and/or `in_query` (at least one present), optional
//! `global_auth`. Rule config: `allow[]` (non-empty consumer names).
//!
//! Authentication is skipped when the current config has no `allow` and either
//! `global_auth` is false, or it is unset and the configuration has rules. Otherwise the
//! key is read from the headers named in `keys` when `in_header` is true, else from the
//! query. All denials carry `WWW-Authenticate: Key realm=MSE Gateway`: several keys → 401
//! `key-auth.multi_key`; none → 401 `key-auth.no_key`; an unknown key, or a consumer not
//! in `allow` → 403 `key-auth.unauthorized`. On success the request gets
//! `X-Mse-Consumer: <name>`.

use std::cell::Cell;
use std::collections::HashMap;

use wasmgate_sdk::prelude::*;

#[derive(Clone, Default)]
struct KeyAuthConfig {
    global_auth: Option<bool>,
    keys: Vec<String>,
    in_query: bool,
    in_header: bool,
    credential_to_name: HashMap<String, String>,
    allow: Vec<String>,
}

thread_local! {
    /// Whether the configuration has at least one rule (a domain or route with `allow`).
    static RULES_EXIST: Cell<bool> = const { Cell::new(false) };
}

fn parse_global(json: &Value) -> Result<KeyAuthConfig> {
    let mut config = KeyAuthConfig {
        global_auth: json["global_auth"].as_bool(),
        ..KeyAuthConfig::default()
    };
    let keys = json["keys"]
        .as_array()
        .ok_or_else(|| Error::Config("keys is required".into()))?;
    if keys.is_empty() {
        return Err(Error::Config("keys cannot be empty".into()));
    }
    config.keys = keys
        .iter()
        .map(|k| k.as_str().unwrap_or_default().to_string())
        .collect();
    let (in_query, in_header) = (&json["in_query"], &json["in_header"]);
    if in_query.is_null() && in_header.is_null() {
        return Err(Error::Config(
            "must one of in_query/in_header required".into(),
        ));
    }
    config.in_query = in_query.as_bool().unwrap_or(false);
    config.in_header = in_header.as_bool().unwrap_or(false);
    let consumers = json["consumers"]
        .as_array()
        .ok_or_else(|| Error::Config("consumers is required".into()))?;
    if consumers.is_empty() {
        return Err(Error::Config("consumers cannot be empty".into()));
    }
    for consumer in consumers {
        let name = consumer["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            return Err(Error::Config("consumer name is required".into()));
        }
        let credential = consumer["credential"].as_str().unwrap_or_default();
        if credential.is_empty() {
            return Err(Error::Config("consumer credential is required".into()));
        }
        if config
            .credential_to_name
            .insert(credential.to_string(), name.to_string())
            .is_some()
        {
            return Err(Error::Config(format!(
                "duplicate consumer credential: {credential}"
            )));
        }
    }
    Ok(config)
}

fn parse_rule(json: &Value, global: &KeyAuthConfig) -> Result<KeyAuthConfig> {
    let allow = json["allow"]
        .as_array()
        .ok_or_else(|| Error::Config("allow is required".into()))?;
    if allow.is_empty() {
        return Err(Error::Config("allow cannot be empty".into()));
    }
    RULES_EXIST.with(|r| r.set(true));
    let mut config = global.clone();
    config.allow = allow
        .iter()
        .map(|a| a.as_str().unwrap_or_default().to_string())
        .collect();
    Ok(config)
}

fn on_plugin_start(_: &PluginContext) {
    RULES_EXIST.with(|r| r.set(false));
}

/// The query parameters of a path, percent-decoded (`+` is a space).
fn query_values(path: &str, key: &str) -> Vec<String> {
    let query = path.split('#').next().unwrap_or("");
    let Some((_, query)) = query.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == key).then(|| decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const REALM: (&str, &str) = ("WWW-Authenticate", "Key realm=MSE Gateway");

fn deny(ctx: &HttpContext, status: u32, detail: &str, message: &str) -> Result<HeaderAction> {
    ctx.send_response_with_detail(status, detail, &[REALM], message)
}

fn on_request_headers(ctx: &HttpContext, config: &KeyAuthConfig) -> Result<HeaderAction> {
    let rules_exist = RULES_EXIST.with(Cell::get);
    let no_allow = config.allow.is_empty();
    let global_auth_off = config.global_auth == Some(false);
    let global_auth_unset = config.global_auth.is_none();
    if no_allow && (global_auth_off || (global_auth_unset && rules_exist)) {
        debug!("authorization is not required");
        return Ok(HeaderAction::Continue);
    }
    let mut tokens = Vec::new();
    if config.in_header {
        for key in &config.keys {
            if let Some(value) = ctx.request_header(key).filter(|v| !v.is_empty()) {
                tokens.push(value);
            }
        }
    } else if config.in_query {
        let path = ctx.request_header(":path").unwrap_or_default();
        for key in &config.keys {
            tokens.extend(query_values(&path, key));
        }
    }
    if tokens.len() > 1 {
        return deny(
            ctx,
            401,
            "key-auth.multi_key",
            "Request denied by Key Auth check. Muti Key Authentication information found.",
        );
    }
    let Some(token) = tokens.first() else {
        return deny(
            ctx,
            401,
            "key-auth.no_key",
            "Request denied by Key Auth check. No Key Authentication information found.",
        );
    };
    let Some(name) = config.credential_to_name.get(token) else {
        warn!("credential {token:?} is not configured");
        return deny(
            ctx,
            403,
            "key-auth.unauthorized",
            "Request denied by Key Auth check. Unauthorized consumer.",
        );
    };
    if !no_allow && !config.allow.contains(name) {
        warn!("consumer {name:?} is not allowed");
        return deny(
            ctx,
            403,
            "key-auth.unauthorized",
            "Request denied by Key Auth check. Unauthorized consumer.",
        );
    }
    info!("consumer {name:?} authenticated");
    ctx.add_request_header("X-Mse-Consumer", name)?;
    Ok(HeaderAction::Continue)
}

wasmgate_sdk::plugin! {
    name: "key-auth",
    config: KeyAuthConfig,
    on_plugin_start,
    parse: parse_global,
    parse_override: parse_rule,
    on_request_headers,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(query_values("/a?apikey=x%2By&b=1", "apikey"), vec!["x+y"]);
        assert_eq!(query_values("/a?k=1&k=2", "k"), vec!["1", "2"]);
        assert!(query_values("/a", "k").is_empty());
        assert_eq!(decode("a%zz"), "a%zz");
    }
}
