//! `cluster-key-rate-limit`: Higress's cluster-wide rate limiter on wasmgate-sdk, counting in
//! Redis with a fixed-window Lua script.
//!
//! Config (as Higress):
//! - `rule_name` (required);
//! - either `global_threshold: {query_per_second|query_per_minute|query_per_hour|query_per_day: n}`
//!   or `rule_items[]`, each with one of `limit_by_header`, `limit_by_param`,
//!   `limit_by_cookie`, `limit_by_consumer` (the `x-mse-consumer` header),
//!   `limit_by_per_header`, `limit_by_per_param`, `limit_by_per_cookie`,
//!   `limit_by_per_consumer`, `limit_by_per_ip` (`from-remote-addr` or
//!   `from-header-<name>`), and `limit_keys[{key, query_per_*}]`: exact values for
//!   `limit_by_*`, `*` or `regexp:<re>` for `limit_by_per_*`, IPs or CIDRs for the IP type;
//! - `show_limit_quota_header` (false), `rejected_code` (429), `rejected_msg`
//!   ("Too many requests");
//! - `redis{service_name, service_port (6379; 80 for a `.static` service), username,
//!   password, timeout (1000 ms), database}`. The cluster is
//!   `outbound|<port>||<service_name>`, e.g. `outbound|6379||redis.static`.
//!
//! Per request: rerouting is disabled; the key
//! `higress-cluster-key-rate-limit:<rule>:global_threshold:<window>:<count>` (or
//! `…:<rule>:<limit type>:<window>:<count>:<key>:<value>`) is counted with `EVAL` of a
//! fixed-window script returning `{threshold, current, ttl}` and the request waits. Past
//! the threshold the reply is `rejected_code` with `rejected_msg`, the detail
//! `cluster-key-rate-limit.rejected` and `X-RateLimit-Reset: <ttl>` (plus
//! `X-RateLimit-Limit` and `X-RateLimit-Remaining: 0` with `show_limit_quota_header`);
//! otherwise the request resumes, and the response gets `X-RateLimit-Limit` and
//! `X-RateLimit-Remaining` when asked. A reply that is not a 3-element array, a Redis error,
//! or a client that is not ready lets the request through (logged): the gateway keeps
//! answering when Redis is down. A Redis cluster the host does not know is logged at start
//! and retried by the client; the plugin still starts.

use std::net::IpAddr;

use regex_lite::Regex;
use wasmgate_sdk::prelude::*;

const KEY_PREFIX: &str = "higress-cluster-key-rate-limit";
const CONSUMER_HEADER: &str = "x-mse-consumer";

/// Counts one request in the window; returns `{threshold, current, ttl}`.
const FIXED_WINDOW_SCRIPT: &str = r#"
local ttl = redis.call('ttl', KEYS[1])
if ttl < 0 then
    redis.call('set', KEYS[1], 1, 'EX', ARGV[2])
    return {ARGV[1], 1, ARGV[2]}
end
return {ARGV[1], redis.call('incr', KEYS[1]), ttl}
"#;

const TIME_WINDOWS: [(&str, i64); 4] = [
    ("query_per_second", 1),
    ("query_per_minute", 60),
    ("query_per_hour", 3600),
    ("query_per_day", 86400),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitType {
    Header,
    Param,
    Cookie,
    Consumer,
    PerHeader,
    PerParam,
    PerCookie,
    PerConsumer,
    PerIp,
}

impl LimitType {
    fn name(self) -> &'static str {
        match self {
            LimitType::Header => "limit_by_header",
            LimitType::Param => "limit_by_param",
            LimitType::Cookie => "limit_by_cookie",
            LimitType::Consumer => "limit_by_consumer",
            LimitType::PerHeader => "limit_by_per_header",
            LimitType::PerParam => "limit_by_per_param",
            LimitType::PerCookie => "limit_by_per_cookie",
            LimitType::PerConsumer => "limit_by_per_consumer",
            LimitType::PerIp => "limit_by_per_ip",
        }
    }

    fn is_per(self) -> bool {
        matches!(
            self,
            LimitType::PerHeader
                | LimitType::PerParam
                | LimitType::PerCookie
                | LimitType::PerConsumer
        )
    }
}

enum KeyMatch {
    Exact,
    All,
    Regexp(Regex),
    Net(IpAddr, u8),
}

struct LimitKey {
    key: String,
    matcher: KeyMatch,
    count: i64,
    window: i64,
}

enum IpSource {
    RemoteAddr,
    Header(String),
}

struct RuleItem {
    limit_type: LimitType,
    key: String,
    ip_source: IpSource,
    keys: Vec<LimitKey>,
}

struct RateLimitConfig {
    rule_name: String,
    global: Option<(i64, i64)>,
    rule_items: Vec<RuleItem>,
    show_limit_quota_header: bool,
    rejected_code: u32,
    rejected_msg: String,
    redis: RedisClient,
}

fn config_error(message: impl Into<String>) -> Error {
    Error::Config(message.into())
}

fn rate(json: &Value) -> Option<(i64, i64)> {
    TIME_WINDOWS.iter().find_map(|(key, window)| {
        json[*key]
            .as_i64()
            .filter(|n| *n > 0)
            .map(|count| (count, *window))
    })
}

fn parse_net(text: &str) -> Result<(IpAddr, u8)> {
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let ip: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| config_error(format!("invalid ip or cidr {text:?}")))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) => b
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|b| *b <= max)
            .ok_or_else(|| config_error(format!("invalid cidr {text:?}")))?,
        None => max,
    };
    Ok((ip, bits))
}

fn in_net(ip: IpAddr, (net, bits): (IpAddr, u8)) -> bool {
    fn prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
        let (full, rest) = ((bits / 8) as usize, bits % 8);
        if a[..full] != b[..full] {
            return false;
        }
        rest == 0 || (a[full] ^ b[full]) >> (8 - rest) == 0
    }
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => prefix(&a.octets(), &b.octets(), bits),
        (IpAddr::V6(a), IpAddr::V6(b)) => prefix(&a.octets(), &b.octets(), bits),
        (IpAddr::V6(a), IpAddr::V4(b)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| prefix(&a.octets(), &b.octets(), bits)),
        _ => false,
    }
}

fn parse_rule_item(item: &Value) -> Result<RuleItem> {
    let text = |key: &str| item[key].as_str().unwrap_or_default().to_string();
    let mut found: Option<(LimitType, String)> = None;
    for (key, kind) in [
        ("limit_by_header", LimitType::Header),
        ("limit_by_param", LimitType::Param),
        ("limit_by_cookie", LimitType::Cookie),
        ("limit_by_per_header", LimitType::PerHeader),
        ("limit_by_per_param", LimitType::PerParam),
        ("limit_by_per_cookie", LimitType::PerCookie),
    ] {
        if !text(key).is_empty() {
            found = Some((kind, text(key)));
        }
    }
    if !item["limit_by_consumer"].is_null() {
        found = Some((LimitType::Consumer, CONSUMER_HEADER.into()));
    }
    if !item["limit_by_per_consumer"].is_null() {
        found = Some((LimitType::PerConsumer, CONSUMER_HEADER.into()));
    }
    let mut ip_source = IpSource::RemoteAddr;
    let per_ip = text("limit_by_per_ip");
    if !per_ip.is_empty() {
        if let Some(header) = per_ip.strip_prefix("from-header-") {
            if header.is_empty() {
                return Err(config_error(
                    "limit_by_per_ip parse error: empty after 'from-header-'",
                ));
            }
            ip_source = IpSource::Header(header.to_string());
        } else if per_ip != "from-remote-addr" {
            return Err(config_error(
                "the 'limit_by_per_ip' restriction must start with 'from-header-' or be exactly 'from-remote-addr'",
            ));
        }
        found = Some((LimitType::PerIp, per_ip));
    }
    let Some((limit_type, key)) = found else {
        return Err(config_error("one of the limit_by_* keys must be set"));
    };
    let limit_keys = item["limit_keys"]
        .as_array()
        .ok_or_else(|| config_error("missing limit_keys in config"))?;
    if limit_keys.is_empty() {
        return Err(config_error("config limit_keys cannot be empty"));
    }
    let mut keys = Vec::new();
    for entry in limit_keys {
        let key = entry["key"].as_str().unwrap_or_default().to_string();
        if key.is_empty() {
            return Err(config_error("limit_keys key is required"));
        }
        let matcher = if limit_type == LimitType::PerIp {
            let (ip, bits) = parse_net(&key)?;
            KeyMatch::Net(ip, bits)
        } else if limit_type.is_per() {
            if key == "*" {
                KeyMatch::All
            } else if let Some(re) = key.strip_prefix("regexp:") {
                KeyMatch::Regexp(Regex::new(re).map_err(|e| {
                    config_error(format!("failed to compile regex for key '{key}': {e}"))
                })?)
            } else {
                return Err(config_error(format!(
                    "the '{}' restriction must start with 'regexp:' or be exactly '*'",
                    limit_type.name()
                )));
            }
        } else {
            KeyMatch::Exact
        };
        let (count, window) = rate(entry).ok_or_else(|| {
            config_error(format!(
                "one of 'query_per_second', 'query_per_minute', 'query_per_hour', or 'query_per_day' must be set for key: {key}"
            ))
        })?;
        keys.push(LimitKey {
            key,
            matcher,
            count,
            window,
        });
    }
    Ok(RuleItem {
        limit_type,
        key,
        ip_source,
        keys,
    })
}

fn parse_redis(json: &Value) -> Result<RedisClient> {
    let redis = &json["redis"];
    if !redis.is_object() {
        return Err(config_error("missing redis in config"));
    }
    let service_name = redis["service_name"].as_str().unwrap_or_default();
    if service_name.is_empty() {
        return Err(config_error("redis service name must not be empty"));
    }
    let port = match redis["service_port"].as_u64().unwrap_or(0) {
        0 if service_name.ends_with(".static") => 80,
        0 => 6379,
        p => u16::try_from(p).map_err(|_| config_error(format!("invalid service_port {p}")))?,
    };
    let timeout = redis["timeout"].as_u64().filter(|t| *t > 0).unwrap_or(1000) as u32;
    let client = RedisClient::new(FqdnCluster::new(service_name, port));
    let options = RedisOptions::default().database(redis["database"].as_u64().unwrap_or(0) as u32);
    let text = |key: &str| redis[key].as_str().unwrap_or_default().to_string();
    if let Err(e) = client.init(&text("username"), &text("password"), timeout, options) {
        // The gateway keeps answering: requests pass while the client retries.
        error!("{e}; requests are not limited until redis is ready");
    }
    Ok(client)
}

fn parse_config(json: &Value) -> Result<RateLimitConfig> {
    let redis = parse_redis(json)?;
    let rule_name = json["rule_name"]
        .as_str()
        .ok_or_else(|| config_error("missing rule_name in config"))?
        .to_string();
    let (has_global, has_rules) = (
        !json["global_threshold"].is_null(),
        !json["rule_items"].is_null(),
    );
    let mut global = None;
    let mut rule_items = Vec::new();
    match (has_global, has_rules) {
        (false, false) => {
            return Err(config_error(
                "at least one of 'global_threshold' or 'rule_items' must be set",
            ))
        }
        (true, true) => {
            return Err(config_error(
                "'global_threshold' and 'rule_items' cannot be set at the same time",
            ))
        }
        (true, false) => {
            global = Some(rate(&json["global_threshold"]).ok_or_else(|| {
                config_error("failed to parse global_threshold: one of 'query_per_second', 'query_per_minute', 'query_per_hour', or 'query_per_day' must be set")
            })?);
        }
        (false, true) => {
            let items = json["rule_items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                return Err(config_error("config rule_items cannot be empty"));
            }
            for item in &items {
                rule_items.push(parse_rule_item(item).map_err(|e| {
                    config_error(format!("failed to parse rule_item in rule_items: {e}"))
                })?);
            }
        }
    }
    Ok(RateLimitConfig {
        rule_name,
        global,
        rule_items,
        show_limit_quota_header: json["show_limit_quota_header"].as_bool().unwrap_or(false),
        rejected_code: json["rejected_code"]
            .as_u64()
            .map(|c| c as u32)
            .unwrap_or(429),
        rejected_msg: json["rejected_msg"]
            .as_str()
            .unwrap_or("Too many requests")
            .to_string(),
        redis,
    })
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

fn query_param(path: &str, key: &str) -> Option<String> {
    let (_, query) = path.split('#').next()?.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == key).then(|| decode(v))
    })
}

fn cookie_value(cookie: &str, key: &str) -> Option<String> {
    cookie.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// The client IP without its port (`1.2.3.4:5`, `[::1]:5`, `::1`).
fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    text.rsplit_once(':')?.0.parse().ok()
}

impl RuleItem {
    /// The request's value for this item and the limit that applies to it.
    fn hit(&self, ctx: &HttpContext) -> Option<(String, &LimitKey)> {
        let value = match self.limit_type {
            LimitType::Header
            | LimitType::PerHeader
            | LimitType::Consumer
            | LimitType::PerConsumer => ctx.request_header(&self.key)?,
            LimitType::Param | LimitType::PerParam => query_param(&ctx.path(), &self.key)?,
            LimitType::Cookie | LimitType::PerCookie => {
                cookie_value(&ctx.request_header("cookie")?, &self.key).filter(|v| !v.is_empty())?
            }
            LimitType::PerIp => {
                let raw = match &self.ip_source {
                    IpSource::Header(name) => {
                        let h = ctx.request_header(name)?;
                        h.trim().split(',').next().unwrap_or_default().to_string()
                    }
                    IpSource::RemoteAddr => ctx.property_string(&["source", "address"])?,
                };
                let Some(ip) = parse_ip(&raw) else {
                    warn!("failed to get down stream ip: invalid ip[{raw}]");
                    return None;
                };
                let key = self.keys.iter().find(|k| match k.matcher {
                    KeyMatch::Net(net, bits) => in_net(ip, (net, bits)),
                    _ => false,
                })?;
                return Some((ip.to_string(), key));
            }
        };
        let key = self.keys.iter().find(|k| match &k.matcher {
            KeyMatch::All => true,
            KeyMatch::Regexp(re) => re.is_match(&value),
            KeyMatch::Exact => k.key == value,
            KeyMatch::Net(..) => false,
        })?;
        Some((value, key))
    }
}

/// What the response phase needs to show the quota.
#[derive(Clone)]
struct Quota {
    limit: i64,
    remaining: i64,
}

fn on_request_headers(ctx: &HttpContext, config: &RateLimitConfig) -> Result<HeaderAction> {
    ctx.disable_reroute()?;
    let (limit_key, count, window) = match config.global {
        Some((count, window)) => (
            format!(
                "{KEY_PREFIX}:{}:global_threshold:{window}:{count}",
                config.rule_name
            ),
            count,
            window,
        ),
        None => {
            let Some((item, value, key)) = config
                .rule_items
                .iter()
                .find_map(|item| item.hit(ctx).map(|(value, key)| (item, value, key)))
            else {
                return Ok(HeaderAction::Continue);
            };
            (
                format!(
                    "{KEY_PREFIX}:{}:{}:{}:{}:{}:{value}",
                    config.rule_name,
                    item.limit_type.name(),
                    key.window,
                    key.count,
                    item.key
                ),
                key.count,
                key.window,
            )
        }
    };
    let show = config.show_limit_quota_header;
    let code = config.rejected_code;
    let message = config.rejected_msg.clone();
    let sent = config
        .redis
        .eval(FIXED_WINDOW_SCRIPT, 1, &[&limit_key], &[count, window])
        .send(ctx, move |ctx, reply| -> Result<()> {
            let reply = match reply {
                Ok(reply) => reply,
                Err(e) => {
                    error!("redis call failed, letting the request through: {e}");
                    return Ok(());
                }
            };
            let numbers: Vec<i64> = reply
                .as_array()
                .unwrap_or_default()
                .iter()
                .map(|v| v.as_integer().unwrap_or(0))
                .collect();
            let [threshold, current, ttl] = numbers[..] else {
                error!("redis response parse error, response: {reply:?}");
                return Ok(());
            };
            if current > threshold {
                let ttl = ttl.to_string();
                let limit = threshold.to_string();
                let mut headers = vec![("X-RateLimit-Reset", ttl.as_str())];
                if show {
                    headers.push(("X-RateLimit-Limit", limit.as_str()));
                    headers.push(("X-RateLimit-Remaining", "0"));
                }
                return ctx.send_response_with_detail(
                    code,
                    "cluster-key-rate-limit.rejected",
                    &headers,
                    &message,
                );
            }
            ctx.insert(Quota {
                limit: threshold,
                remaining: threshold - current,
            });
            Ok(())
        });
    match sent {
        Ok(_) => Ok(HeaderAction::StopAllIterationAndWatermark),
        Err(e) => {
            error!("redis call failed: {e}");
            Ok(HeaderAction::Continue)
        }
    }
}

fn on_response_headers(ctx: &HttpContext, config: &RateLimitConfig) -> Result<HeaderAction> {
    if let (true, Some(quota)) = (config.show_limit_quota_header, ctx.get::<Quota>()) {
        ctx.replace_response_header("X-RateLimit-Limit", quota.limit.to_string())?;
        ctx.replace_response_header("X-RateLimit-Remaining", quota.remaining.to_string())?;
    }
    Ok(HeaderAction::Continue)
}

wasmgate_sdk::plugin! {
    name: "cluster-key-rate-limit",
    config: RateLimitConfig,
    parse: parse_config,
    on_request_headers,
    on_response_headers,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets_cookies_and_ips() {
        let net = parse_net("1.1.1.0/24").unwrap();
        assert!(in_net("1.1.1.9".parse().unwrap(), net));
        assert!(!in_net("1.1.2.9".parse().unwrap(), net));
        assert!(in_net(
            "9.9.9.9".parse().unwrap(),
            parse_net("0.0.0.0/0").unwrap()
        ));
        assert!(in_net("::1".parse().unwrap(), parse_net("::1").unwrap()));
        assert!(parse_net("1.1.1.1/33").is_err());
        assert_eq!(
            cookie_value("a=1; key1=value1", "key1").as_deref(),
            Some("value1")
        );
        assert_eq!(parse_ip("127.0.0.1:40000"), "127.0.0.1".parse().ok());
        assert_eq!(parse_ip("[::1]:80"), "::1".parse().ok());
        assert_eq!(
            query_param("/a?apikey=x%20y", "apikey").as_deref(),
            Some("x y")
        );
    }
}
