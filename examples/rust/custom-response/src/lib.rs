//! `custom-response`: Higress's custom-response plugin on wasmgate-sdk.
//!
//! Config: either one reply at the top level, or `rules[]` of them. A reply has
//! `status_code` (default 200), `headers` (`["key=value", …]`), `body` and
//! `enable_on_status` (exact codes like `404`, or 3-character patterns like `5xx`).
//! The content type is the `content-type` header if given, else `application/json;
//! charset=utf-8` for a JSON body, else `text/plain; charset=utf-8`.
//!
//! As the Go plugin: when no reply has `enable_on_status`, every request is answered at
//! the request-headers phase with the default reply (the first without `enable_on_status`);
//! otherwise the request goes upstream and an upstream status that matches a reply's
//! `enable_on_status` (exact codes first, then patterns) is replaced by that reply. A status
//! may appear in only one reply. Local replies carry the detail `custom-response`.
//! Unlike Go, patterns are tried in configuration order (Go iterates a map).

use wasmgate_sdk::prelude::*;

#[derive(Debug, Clone)]
struct Reply {
    status_code: u32,
    headers: Vec<(String, String)>,
    body: String,
    enable_on_status: Vec<String>,
}

struct CustomResponseConfig {
    default_reply: Option<Reply>,
    /// (status or pattern, reply), exact codes and patterns in configuration order.
    on_status: Vec<(String, Reply)>,
}

fn parse_reply(json: &Value) -> Result<Reply> {
    let mut headers = Vec::new();
    let mut content_type = String::new();
    for item in json["headers"].as_array().into_iter().flatten() {
        let text = item.as_str().unwrap_or_default();
        let Some((key, value)) = text.split_once('=') else {
            return Err(Error::Config(format!("invalid header pair format: {text}")));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.eq_ignore_ascii_case("content-type") {
            content_type = value.to_string();
        } else if !key.eq_ignore_ascii_case("content-length") {
            headers.push((key.to_string(), value.to_string()));
        }
    }
    let body = match &json["body"] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if content_type.is_empty() && !body.is_empty() {
        content_type = if serde_json::from_str::<Value>(&body).is_ok() {
            "application/json; charset=utf-8".into()
        } else {
            "text/plain; charset=utf-8".into()
        };
    }
    headers.push(("content-type".into(), content_type));
    let status_code = match &json["status_code"] {
        Value::Null => 200,
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| Error::Config(format!("invalid status code value: {n}")))?
            as u32,
        Value::String(s) => s
            .parse()
            .map_err(|_| Error::Config(format!("invalid status code value: {s}")))?,
        other => return Err(Error::Config(format!("invalid status code value: {other}"))),
    };
    let mut enable_on_status = Vec::new();
    for item in json["enable_on_status"].as_array().into_iter().flatten() {
        let s = match item {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if s.parse::<u32>().is_ok() {
            enable_on_status.push(s);
        } else {
            enable_on_status.push(check_pattern(&s)?);
        }
    }
    Ok(Reply {
        status_code,
        headers,
        body,
        enable_on_status,
    })
}

fn check_pattern(s: &str) -> Result<String> {
    let bad = |why: &str| {
        Err(Error::Config(format!(
            "invalid enable_on_status {s:?}: {why}"
        )))
    };
    if s.len() != 3 {
        return bad("length must be 3");
    }
    let lower = s.to_ascii_lowercase();
    if !lower.chars().all(|c| c == 'x' || c.is_ascii_digit()) {
        return bad("must contain only digits and x/X");
    }
    if !lower.contains('x') {
        return bad("fuzzy match must contain x/X");
    }
    if !lower.chars().any(|c| c.is_ascii_digit()) {
        return bad("must contain at least one digit");
    }
    Ok(lower)
}

fn parse_config(json: &Value) -> Result<CustomResponseConfig> {
    let mut replies = Vec::new();
    let rules_version = json["rules"].is_array();
    if let Some(rules) = json["rules"].as_array() {
        for rule in rules {
            replies.push(parse_reply(rule)?);
        }
    } else {
        replies.push(parse_reply(json)?);
    }
    let default_reply = if rules_version {
        replies
            .iter()
            .find(|r| r.enable_on_status.is_empty())
            .cloned()
    } else {
        replies.first().cloned()
    };
    let mut on_status: Vec<(String, Reply)> = Vec::new();
    for reply in &replies {
        for status in &reply.enable_on_status {
            if on_status.iter().any(|(s, _)| s == status) {
                return Err(Error::Config(format!(
                    "enable_on_status {status} can only be used once"
                )));
            }
            on_status.push((status.clone(), reply.clone()));
        }
    }
    if rules_version && default_reply.is_none() && on_status.is_empty() {
        return Err(Error::Config("no valid config is found".into()));
    }
    Ok(CustomResponseConfig {
        default_reply,
        on_status,
    })
}

fn send<A: ReplyAction>(ctx: &HttpContext, reply: &Reply) -> Result<A> {
    let headers: Vec<(&str, &str)> = reply
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    ctx.send_response_with_detail(reply.status_code, "custom-response", &headers, &reply.body)
}

fn on_request_headers(ctx: &HttpContext, config: &CustomResponseConfig) -> Result<HeaderAction> {
    if !config.on_status.is_empty() {
        return Ok(HeaderAction::Continue);
    }
    if let Some(reply) = &config.default_reply {
        info!("use default rule, status {}", reply.status_code);
        return send(ctx, reply);
    }
    Ok(HeaderAction::StopIteration)
}

fn matches_pattern(pattern: &str, status: &str) -> bool {
    pattern.len() == status.len()
        && pattern.contains('x')
        && pattern
            .bytes()
            .zip(status.bytes())
            .all(|(p, s)| p == b'x' || p == s)
}

fn on_response_headers(ctx: &HttpContext, config: &CustomResponseConfig) -> Result<HeaderAction> {
    let Some(status) = ctx.response_header(":status") else {
        error!("get http response status code failed");
        return Ok(HeaderAction::Continue);
    };
    let reply = config
        .on_status
        .iter()
        .find(|(s, _)| *s == status)
        .or_else(|| {
            config
                .on_status
                .iter()
                .find(|(p, _)| matches_pattern(p, &status))
        });
    if let Some((_, reply)) = reply {
        return send(ctx, reply);
    }
    Ok(HeaderAction::Continue)
}

wasmgate_sdk::plugin! {
    name: "custom-response",
    config: CustomResponseConfig,
    parse: parse_config,
    on_request_headers,
    on_response_headers,
}
