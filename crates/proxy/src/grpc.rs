//! What the gateway knows of gRPC, as Envoy's gRPC utilities do: whether a request is gRPC
//! (its `content-type`), the `grpc-timeout` header, the gRPC status of an HTTP status, and
//! the `grpc-message` encoding.

use std::time::Duration;

use wasmgate_host::HeaderMap;

/// gRPC's UNAVAILABLE.
pub(crate) const UNAVAILABLE: i32 = 14;

/// Whether a request is gRPC: `content-type` is `application/grpc`, or that followed by
/// `+…` or `;…` (gRPC-Web's `application/grpc-web` is not).
pub(crate) fn is_grpc(request: &HeaderMap) -> bool {
    let Some(content_type) = request.first(b"content-type") else {
        return false;
    };
    let base = b"application/grpc";
    content_type.len() >= base.len()
        && content_type[..base.len()].eq_ignore_ascii_case(base)
        && matches!(content_type.get(base.len()), None | Some(b'+') | Some(b';'))
}

/// The `grpc-timeout` header's value (1 to 8 digits and a unit of `H`, `M`, `S`, `m`, `u`,
/// `n`); `None` when absent or malformed.
pub(crate) fn timeout(request: &HeaderMap) -> Option<Duration> {
    let value = request.get_str("grpc-timeout")?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The upstream time limit of a gRPC request on a route with `grpc_timeout_header_max`, as
/// Envoy's router computes it: the `grpc-timeout` header, capped at the maximum unless that
/// is zero; no header and no cap is no limit (`None`).
pub(crate) fn route_timeout(request: &HeaderMap, max: Duration) -> Option<Duration> {
    let asked = timeout(request).unwrap_or(Duration::ZERO);
    let limit = if !max.is_zero() && (asked.is_zero() || asked > max) {
        max
    } else {
        asked
    };
    (!limit.is_zero()).then_some(limit)
}

/// The gRPC status of an HTTP status, as Envoy maps a local reply's.
pub(crate) fn status_of_http(status: u16) -> i32 {
    match status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => UNAVAILABLE,
        _ => 2,
    }
}

/// A `grpc-message` value: bytes outside printable ASCII, and `%`, percent-encoded.
pub(crate) fn encode_message(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// Makes a local reply's response headers a gRPC trailers-only response, as Envoy does for a
/// gRPC request: `:status 200`, `content-type: application/grpc`, `grpc-status` (the one
/// given, else the HTTP status mapped) and the body as `grpc-message`; the body is dropped.
pub(crate) fn trailers_only(
    headers: &mut HeaderMap,
    http_status: u16,
    grpc_status: Option<i32>,
    body: &[u8],
) {
    let status = grpc_status.unwrap_or_else(|| status_of_http(http_status));
    headers.replace(b":status", b"200");
    headers.replace(b"content-type", b"application/grpc");
    headers.replace(b"grpc-status", status.to_string().as_bytes());
    if !body.is_empty() {
        headers.replace(b"grpc-message", &encode_message(body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from_pairs(pairs)
    }

    #[test]
    fn grpc_content_types() {
        for (value, grpc) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("application/grpc;charset=utf-8", true),
            ("application/grpc-web", false),
            ("application/json", false),
        ] {
            assert_eq!(
                is_grpc(&request(&[("content-type", value)])),
                grpc,
                "{value}"
            );
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn grpc_timeouts() {
        let t = |v: &str| timeout(&request(&[("grpc-timeout", v)]));
        assert_eq!(t("2S"), Some(Duration::from_secs(2)));
        assert_eq!(t("150m"), Some(Duration::from_millis(150)));
        assert_eq!(t("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(t("123456789m"), None);
        assert_eq!(t("5x"), None);
        assert_eq!(t("S"), None);
    }

    #[test]
    fn route_timeout_is_capped_unless_the_cap_is_zero() {
        let asked = request(&[("grpc-timeout", "10S")]);
        let none = HeaderMap::new();
        assert_eq!(
            route_timeout(&asked, Duration::from_secs(3)),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            route_timeout(&asked, Duration::ZERO),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            route_timeout(&none, Duration::from_secs(3)),
            Some(Duration::from_secs(3))
        );
        assert_eq!(route_timeout(&none, Duration::ZERO), None);
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(encode_message(b"no 100% sure\n"), b"no 100%25 sure%0A");
    }

    #[test]
    fn a_local_reply_becomes_trailers_only() {
        let mut headers = request(&[(":status", "503"), ("x-a", "1")]);
        trailers_only(&mut headers, 503, None, b"no healthy upstream");
        assert_eq!(headers.get_str(":status"), Some("200"));
        assert_eq!(headers.get_str("grpc-status"), Some("14"));
        assert_eq!(headers.get_str("grpc-message"), Some("no healthy upstream"));
        assert_eq!(headers.get_str("x-a"), Some("1"));
    }
}
