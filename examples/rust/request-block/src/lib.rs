//! `request-block`: Higress's request-block plugin on wasmgate-sdk.
//!
//! Config (as Higress): `block_urls` (substring of `:path`), `block_exact_urls`,
//! `block_regexp_urls`, `block_headers` (substring of the `name\nvalue` lines),
//! `block_bodies` (substring of the body), `blocked_code` (default 403; values outside
//! 101–599 become 403), `blocked_message`, `case_sensitive` (default false: rules and input
//! are lower-cased). Empty strings are dropped; a config with no url, header or body rule
//! fails the start with "there is no block rules".
//!
//! Behaviour kept from the Go plugin, quirks included (its conformance tests assert them):
//! exact and regexp URL rules are checked only when `block_urls` is non-empty; a header hit
//! reports the detail `request-block.body_blocked`; without body rules the body is not read.

use regex_lite::Regex;
use wasmgate_sdk::prelude::*;

struct BlockConfig {
    blocked_code: u32,
    blocked_message: String,
    case_sensitive: bool,
    block_urls: Vec<String>,
    block_exact_urls: Vec<String>,
    block_regexp_urls: Vec<Regex>,
    block_headers: Vec<String>,
    block_bodies: Vec<String>,
}

fn strings(json: &Value, key: &str, case_sensitive: bool) -> Vec<String> {
    json[key]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                })
                .filter(|s| !s.is_empty())
                .map(|s| if case_sensitive { s } else { s.to_lowercase() })
                .collect()
        })
        .unwrap_or_default()
}

fn parse_config(json: &Value) -> Result<BlockConfig> {
    let code = json["blocked_code"].as_i64().unwrap_or(0);
    let blocked_code = if code > 100 && code < 600 {
        code as u32
    } else {
        403
    };
    let case_sensitive = json["case_sensitive"].as_bool().unwrap_or(false);
    let block_regexp_urls = strings(json, "block_regexp_urls", case_sensitive)
        .iter()
        .map(|pattern| {
            Regex::new(pattern)
                .map_err(|e| Error::Config(format!("invalid block_regexp_urls {pattern:?}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let config = BlockConfig {
        blocked_code,
        blocked_message: json["blocked_message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        case_sensitive,
        block_urls: strings(json, "block_urls", case_sensitive),
        block_exact_urls: strings(json, "block_exact_urls", case_sensitive),
        block_regexp_urls,
        block_headers: strings(json, "block_headers", case_sensitive),
        block_bodies: strings(json, "block_bodies", case_sensitive),
    };
    if config.block_urls.is_empty()
        && config.block_headers.is_empty()
        && config.block_bodies.is_empty()
    {
        return Err(Error::Config("there is no block rules".into()));
    }
    Ok(config)
}

impl BlockConfig {
    fn normalize(&self, text: String) -> String {
        if self.case_sensitive {
            text
        } else {
            text.to_lowercase()
        }
    }

    fn block<A: ReplyAction>(&self, ctx: &HttpContext, detail: &str) -> Result<A> {
        ctx.send_response_with_detail(
            self.blocked_code,
            detail,
            &[],
            self.blocked_message.as_bytes(),
        )
    }
}

fn on_request_headers(ctx: &HttpContext, config: &BlockConfig) -> Result<HeaderAction> {
    if !config.block_urls.is_empty() {
        let Some(path) = ctx.request_header(":path") else {
            warn!("get path failed: the request has no :path");
            return Ok(HeaderAction::Continue);
        };
        let url = config.normalize(path);
        if config.block_exact_urls.contains(&url) {
            return config.block(ctx, "request-block.url_blocked.exact");
        }
        if config.block_urls.iter().any(|u| url.contains(u.as_str())) {
            return config.block(ctx, "request-block.url_blocked.keyword");
        }
        if config.block_regexp_urls.iter().any(|r| r.is_match(&url)) {
            return config.block(ctx, "request-block.url_blocked.regexp");
        }
    }
    if !config.block_headers.is_empty() {
        let lines: Vec<String> = ctx
            .request_headers()
            .into_iter()
            .map(|(k, v)| format!("{k}\n{v}"))
            .collect();
        let text = config.normalize(lines.join("\n"));
        if config
            .block_headers
            .iter()
            .any(|h| text.contains(h.as_str()))
        {
            return config.block(ctx, "request-block.body_blocked");
        }
    }
    if config.block_bodies.is_empty() {
        ctx.dont_read_request_body();
    }
    Ok(HeaderAction::Continue)
}

fn on_request_body(ctx: &HttpContext, config: &BlockConfig, body: &[u8]) -> Result<DataAction> {
    let text = config.normalize(String::from_utf8_lossy(body).into_owned());
    if config
        .block_bodies
        .iter()
        .any(|b| text.contains(b.as_str()))
    {
        return config.block(ctx, "request-block.body_blocked");
    }
    Ok(DataAction::Continue)
}

wasmgate_sdk::plugin! {
    name: "request-block",
    config: BlockConfig,
    parse: parse_config,
    on_request_headers,
    on_request_body,
}
