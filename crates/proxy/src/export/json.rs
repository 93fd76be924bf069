//! The protobuf-JSON spellings the Envoy export shares: durations, socket addresses,
//! string matchers, `host:port` endpoints.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::ValueMatch;

/// A protobuf `Duration` in JSON: `"15s"`, `"0.250s"`.
pub(super) fn duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        let fraction = format!("{:09}", d.subsec_nanos());
        format!("{}.{}s", d.as_secs(), fraction.trim_end_matches('0'))
    }
}

/// A `config.core.v3.Address` for a host (an IP or a DNS name) and port.
pub(super) fn socket(host: &str, port: u16) -> Value {
    json!({"socket_address": {"address": host, "port_value": port}})
}

/// A `host:port` endpoint split (an IPv6 host in brackets loses them).
pub(super) fn host_port(endpoint: &str) -> Option<(&str, u16)> {
    let (host, port) = endpoint.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host, port.parse().ok()?))
}

/// Whether `host` is an IP address (no DNS lookup needed).
pub(super) fn is_ip(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok()
}

/// A `type.matcher.v3.StringMatcher` (or `present_match`) as the fields of a header or
/// query parameter matcher.
pub(super) fn value_match(value: &ValueMatch) -> (&'static str, Value) {
    match value {
        ValueMatch::Exact(exact) => ("string_match", json!({ "exact": exact })),
        ValueMatch::Prefix(prefix) => ("string_match", json!({ "prefix": prefix })),
        // The pattern as checked (`^(?:…)$`): Envoy's regexes match whole values anyway.
        ValueMatch::Regex(re) => (
            "string_match",
            json!({"safe_regex": {"regex": re.as_str()}}),
        ),
        ValueMatch::Present(present) => ("present_match", json!(present)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_endpoints_as_envoy_reads_them() {
        assert_eq!(duration(Duration::from_secs(15)), "15s");
        assert_eq!(duration(Duration::from_millis(250)), "0.25s");
        assert_eq!(duration(Duration::ZERO), "0s");
        assert_eq!(host_port("[::1]:8080"), Some(("::1", 8080)));
        assert_eq!(host_port("echo.dns:80"), Some(("echo.dns", 80)));
        assert!(is_ip("::1") && !is_ip("echo.dns"));
    }
}
