//! What the edge makes of a request before the plugins see it, as Envoy's connection manager
//! does: the header map (pseudo-headers first), `expect: 100-continue` answered and dropped,
//! hop-by-hop headers (`connection`, `keep-alive`, `transfer-encoding`, …) dropped, `te` kept
//! only as `trailers`, `x-forwarded-proto` and `:scheme` (`https` on a TLS listener),
//! `request.protocol`, and an `x-request-id` when the client sent none. An upgrade request
//! keeps its `connection` and `upgrade` headers (an HTTP/2 extended CONNECT gets them), as
//! Envoy's connection manager keeps them.

use std::sync::atomic::{AtomicU64, Ordering};

use hyper::body::Incoming;
use wasmgate_host::HeaderMap;

use super::connection::Connection;
use super::upgrade::{as_http1_upgrade, Upgrade, Way};
use crate::headers;

/// A request as it enters the plugin chain.
pub(crate) struct Arrival {
    /// The head as hyper parsed it (the access log reads its method and path).
    pub(crate) parts: http::request::Parts,
    /// The request headers the plugins see.
    pub(crate) headers: HeaderMap,
    /// The `x-request-id`, the client's or a new one.
    pub(crate) request_id: String,
    /// The body, still arriving.
    pub(crate) body: Incoming,
    /// The connection it came on.
    pub(crate) connection: Connection,
    /// The upgrade it asks for, if any.
    pub(crate) upgrade: Option<Upgrade>,
}

impl Arrival {
    /// The request `request` on `connection`, its headers made ready for the plugins.
    pub(crate) fn new(
        request: http::Request<Incoming>,
        mut connection: Connection,
        upgrade: Option<Upgrade>,
    ) -> Arrival {
        let (parts, body) = request.into_parts();
        connection.protocol = headers::protocol(parts.version);
        let mut headers = headers::request_map(&parts, connection.scheme());
        drop_expect(&mut headers);
        drop_hop_by_hop(
            &mut headers,
            upgrade.as_ref().map(|u| u.way) == Some(Way::Http1),
        );
        if let Some(upgrade) = upgrade.as_ref().filter(|u| u.way == Way::ExtendedConnect) {
            as_http1_upgrade(&mut headers, &upgrade.protocol);
        }
        forwarded_proto(&mut headers, connection.scheme());
        let request_id = ensure_request_id(&mut headers);
        Arrival {
            parts,
            headers,
            request_id,
            body,
            connection,
            upgrade,
        }
    }
}

/// hyper answers `expect: 100-continue` itself; like Envoy, the header stops here.
fn drop_expect(headers: &mut HeaderMap) {
    if headers
        .get_str("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        headers.remove(b"expect");
    }
}

/// As Envoy's connection manager before its filters: the connection's own headers go, and
/// `te` keeps only `trailers` (or goes). An HTTP/1.1 upgrade keeps `connection` and
/// `upgrade`.
fn drop_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    for name in [
        &b"keep-alive"[..],
        b"proxy-connection",
        b"transfer-encoding",
    ] {
        headers.remove(name);
    }
    if !upgrade {
        headers.remove(b"connection");
        headers.remove(b"upgrade");
    }
    let trailers = headers.get(b"te").map(|te| {
        te.split(|b| *b == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"trailers"))
    });
    match trailers {
        Some(true) => headers.replace(b"te", b"trailers"),
        Some(false) => headers.remove(b"te"),
        None => {}
    }
}

/// As Envoy's connection manager (a plain listener, `use_remote_address` off): how the
/// request came in (`scheme`), unless the client said; a valid value the client gave is the
/// scheme.
fn forwarded_proto(headers: &mut HeaderMap, scheme: &[u8]) {
    match headers.first(b"x-forwarded-proto") {
        None => headers.add(b"x-forwarded-proto", scheme),
        Some(proto @ (b"http" | b"https")) => {
            let proto = proto.to_vec();
            headers.replace(b":scheme", &proto);
        }
        Some(_) => {}
    }
}

/// Two random numbers from this thread's generator (xorshift64*, seeded once per thread
/// from the standard library's random keys): a request id needs uniqueness, not secrecy,
/// and a hasher per request cost more than the rest of the id.
fn random_pair() -> (u64, u64) {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            static THREADS: AtomicU64 = AtomicU64::new(0);
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(THREADS.fetch_add(1, Ordering::Relaxed));
            hasher.finish() | 1
        });
    }
    STATE.with(|state| {
        let next = || {
            let mut x = state.get();
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            state.set(x);
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        (next(), next())
    })
}

/// A version 4 UUID's text (`8-4-4-4-12` hex digits) of 128 random bits, its version and
/// variant bits set. Written by hand: `format!` cost more than the rest of the request id.
fn uuid_v4(random: u128) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = random & !(0xf << 76) | (0x4 << 76);
    let bits = bits & !(0x3 << 62) | (0x2 << 62);
    let mut text = Vec::with_capacity(36);
    for nibble in 0..32 {
        if matches!(nibble, 8 | 12 | 16 | 20) {
            text.push(b'-');
        }
        let digit = (bits >> (124 - 4 * nibble)) & 0xf;
        text.push(HEX[digit as usize]);
    }
    String::from_utf8(text).unwrap_or_default()
}

/// Adds an `x-request-id` when the client sent none (as Envoy does at the edge).
fn ensure_request_id(headers: &mut HeaderMap) -> String {
    if let Some(id) = headers.get_str("x-request-id") {
        return id.to_string();
    }
    let (a, b) = random_pair();
    let id = uuid_v4((u128::from(a) << 64) | u128::from(b));
    headers.add(b"x-request-id", id.as_bytes());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids_and_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = ensure_request_id(&mut HeaderMap::new());
            let groups: Vec<&str> = id.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lengths, [8, 4, 4, 4, 12], "{id}");
            assert!(groups[2].starts_with('4'), "version 4: {id}");
            assert!(
                matches!(&groups[3][..1], "8" | "9" | "a" | "b"),
                "variant: {id}"
            );
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn the_uuid_text_carries_the_bits_in_order() {
        let id = uuid_v4(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert_eq!(id, "01234567-89ab-4def-bedc-ba9876543210");
    }

    #[test]
    fn a_request_id_the_client_sent_is_kept() {
        let mut headers = HeaderMap::new();
        headers.add(b"x-request-id", b"abc");
        assert_eq!(ensure_request_id(&mut headers), "abc");
        assert_eq!(headers.pairs.len(), 1);
    }
}
