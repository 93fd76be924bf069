//! Conversions between hyper's request and response parts and the header maps plugins see
//! (lower-case names, pseudo-headers as entries, values as bytes).

use http::header::{HeaderName, HeaderValue};
use wasmgate_host::HeaderMap;

/// The `Host` headers joined with `,`, as Envoy's HTTP/1 codec joins repeated ones (it serves
/// such a request; the conformance case `edge: OPTIONS *, two Host headers` shows it).
fn joined_hosts(headers: &http::HeaderMap) -> Option<Vec<u8>> {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let mut joined = hosts.next()?.as_bytes().to_vec();
    for host in hosts {
        joined.push(b',');
        joined.extend_from_slice(host.as_bytes());
    }
    Some(joined)
}

/// The request head as a plugin sees it: the pseudo-headers (in Envoy's order for HTTP/1,
/// `:method`, `:scheme`, `:authority`, `:path` for HTTP/2), then the headers in order. HTTP/2's `cookie` fields are joined into one with `; `, as Envoy's
/// codec does.
pub(crate) fn request_map(parts: &http::request::Parts, scheme: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().as_bytes().to_vec())
        .or_else(|| joined_hosts(&parts.headers))
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let http2 = parts.version == http::Version::HTTP_2;
    if http2 {
        // The order HTTP/2's usual clients send (the wire order is not kept by hyper).
        map.add(b":method", parts.method.as_str().as_bytes());
        map.add(b":scheme", scheme);
        map.add(b":authority", &authority);
        map.add(b":path", path.as_bytes());
    } else {
        // Envoy's HTTP/1 codec: `:authority` (of `Host`), `:path`, `:method`; then its
        // connection manager adds `:scheme`.
        map.add(b":authority", &authority);
        map.add(b":path", path.as_bytes());
        map.add(b":method", parts.method.as_str().as_bytes());
        map.add(b":scheme", scheme);
    }
    let join_cookies = http2;
    for (name, value) in &parts.headers {
        if name == http::header::HOST || (join_cookies && name == http::header::COOKIE) {
            continue;
        }
        map.add(name.as_str().as_bytes(), value.as_bytes());
    }
    if join_cookies {
        let cookies: Vec<&[u8]> = parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        if !cookies.is_empty() {
            map.add(b"cookie", &cookies.join(&b"; "[..]));
        }
    }
    map
}

/// `request.protocol` (and the access log's protocol) as Envoy names the version.
pub(crate) fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

/// The response head as a plugin sees it: `:status`, then the headers.
pub(crate) fn response_map(status: http::StatusCode, headers: &http::HeaderMap) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.add(b":status", status.as_str().as_bytes());
    add_all(&mut map, headers);
    map
}

/// Trailers as a plugin sees them.
pub(crate) fn trailer_map(trailers: &http::HeaderMap) -> HeaderMap {
    let mut map = HeaderMap::new();
    add_all(&mut map, trailers);
    map
}

fn add_all(map: &mut HeaderMap, headers: &http::HeaderMap) {
    for (name, value) in headers {
        map.add(name.as_str().as_bytes(), value.as_bytes());
    }
}

/// Plain headers of a map (pseudo-headers left out). Pairs that are not valid HTTP are
/// dropped with a warning naming them.
pub(crate) fn http_headers(map: &HeaderMap) -> http::HeaderMap {
    let mut headers = http::HeaderMap::with_capacity(map.len());
    for (name, value) in &map.pairs {
        if name.first() == Some(&b':') {
            continue;
        }
        match (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => tracing::warn!(
                "dropping a header that is not valid HTTP: {:?}: {:?}",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(value)
            ),
        }
    }
    headers
}

/// A pseudo-header's value as text.
pub(crate) fn pseudo<'a>(map: &'a HeaderMap, name: &str) -> Option<&'a str> {
    map.get_str(name)
}

/// Puts back the `connection` and `upgrade` headers of an upgrade request (`connection`
/// naming `upgrade`) after its hop-by-hop headers were dropped: an upgrade goes upstream with
/// them, as Envoy's router sends it. Only upgrades a route lets through get this far.
pub(crate) fn keep_upgrade(map: &HeaderMap, out: &mut http::HeaderMap) {
    let (Some(connection), Some(upgrade)) = (map.get(b"connection"), map.get(b"upgrade")) else {
        return;
    };
    let asks = connection
        .split(|b| *b == b',')
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
    if let (true, Ok(connection), Ok(upgrade)) = (
        asks,
        HeaderValue::from_bytes(&connection),
        HeaderValue::from_bytes(&upgrade),
    ) {
        out.insert(http::header::CONNECTION, connection);
        out.insert(http::header::UPGRADE, upgrade);
    }
}
