//! Property values as Envoy (and Higress's Envoy) serves them to `proxy_get_property`:
//! `request.*`, `response.*`, `source.*`, `destination.*`, `connection.*`, `upstream.*`,
//! `xds.*`, `plugin_*`, Higress's `route_name` / `cluster_name` / `plugin_vm_memory`, and the
//! values a plugin stored with `proxy_set_property` (which a single-segment get returns).
//!
//! Encodings follow Envoy: strings as bytes, integers as 8-byte little-endian, maps in the
//! header-map wire format.

use crate::stream::{HeaderMap, HttpStream};

/// What a property lookup can see besides the stream.
pub struct PropertyScope<'a> {
    /// The stream of the current context, if the context is a stream.
    pub stream: Option<&'a HttpStream>,
    /// The plugin's name (`plugin_name`).
    pub plugin_name: &'a str,
    /// The plugin's root id (`plugin_root_id`).
    pub root_id: &'a str,
    /// The VM id (`plugin_vm_id`).
    pub vm_id: &'a str,
    /// The VM's linear memory size in bytes (`plugin_vm_memory`).
    pub vm_memory: u64,
}

/// The value of a property path, or `None` when Envoy would answer NOT_FOUND.
pub fn resolve(scope: &PropertyScope<'_>, path: &[&[u8]]) -> Option<Vec<u8>> {
    let text: Vec<&str> = path
        .iter()
        .map(|s| std::str::from_utf8(s).unwrap_or("\u{fffd}"))
        .collect();
    if let Some(value) = plugin_property(scope, &text) {
        return Some(value);
    }
    let stream = scope.stream?;
    if let Some(value) = stream_property(stream, &text) {
        return Some(value);
    }
    // Envoy serves a value a plugin set (filter state `wasm.<path>`) for the same path.
    let raw = wasmgate_abi::path::encode(path);
    stream.properties.get(&raw).cloned()
}

fn plugin_property(scope: &PropertyScope<'_>, path: &[&str]) -> Option<Vec<u8>> {
    let value = match path {
        ["plugin_name"] => scope.plugin_name.as_bytes().to_vec(),
        ["plugin_root_id"] => scope.root_id.as_bytes().to_vec(),
        ["plugin_vm_id"] => scope.vm_id.as_bytes().to_vec(),
        ["plugin_vm_memory"] => scope.vm_memory.to_le_bytes().to_vec(),
        _ => return None,
    };
    Some(value)
}

fn stream_property(stream: &HttpStream, path: &[&str]) -> Option<Vec<u8>> {
    let info = &stream.info;
    let req = &stream.request_headers;
    fn text<S: AsRef<str>>(s: &Option<S>) -> Option<Vec<u8>> {
        s.as_ref().map(|s| s.as_ref().as_bytes().to_vec())
    }
    match path {
        ["route_name"] | ["xds", "route_name"] => text(&info.route_name),
        ["cluster_name"] | ["xds", "cluster_name"] => text(&info.cluster_name),
        ["x_request_id"] => stream
            .properties
            .get(b"x_request_id".as_slice())
            .cloned()
            .or_else(|| req.get(b"x-request-id")),
        ["request", rest @ ..] => request_property(stream, rest),
        ["response", rest @ ..] => response_property(stream, rest),
        ["source", "address"] => text(&info.source_address),
        ["source", "port"] => port(info.source_address.as_deref()),
        ["destination", "address"] => text(&info.destination_address),
        ["destination", "port"] => port(info.destination_address.as_deref()),
        ["upstream", "address"] => text(&info.upstream_address),
        ["upstream", "port"] => port(info.upstream_address.as_deref()),
        ["connection", "id"] | ["connection_id"] => Some(info.connection_id.to_le_bytes().to_vec()),
        ["connection", rest @ ..] => connection_property(info.tls.as_deref(), rest),
        _ => None,
    }
}

/// `connection.*` TLS facts, as Envoy encodes them: `mtls` (a bool byte) and
/// `requested_server_name` (empty without SNI) on every connection; the rest are strings,
/// absent on a plain connection (and the peer's without a client certificate).
fn connection_property(tls: Option<&crate::stream::TlsFacts>, path: &[&str]) -> Option<Vec<u8>> {
    let text = |s: &str| Some(s.as_bytes().to_vec());
    match path {
        ["mtls"] => return Some(vec![u8::from(tls.is_some_and(|t| t.peer.is_some()))]),
        ["requested_server_name"] => {
            return text(tls.map_or("", |t| t.requested_server_name.as_str()))
        }
        _ => {}
    }
    let tls = tls?;
    let peer = tls.peer.as_ref();
    match path {
        ["tls_version"] => text(&tls.tls_version),
        ["subject_local_certificate"] => text(&tls.local.subject),
        ["dns_san_local_certificate"] => tls.local.dns_san.as_deref().and_then(text),
        ["uri_san_local_certificate"] => tls.local.uri_san.as_deref().and_then(text),
        ["subject_peer_certificate"] => peer.and_then(|p| text(&p.subject)),
        ["dns_san_peer_certificate"] => peer.and_then(|p| p.dns_san.as_deref()).and_then(text),
        ["uri_san_peer_certificate"] => peer.and_then(|p| p.uri_san.as_deref()).and_then(text),
        ["sha256_peer_certificate_digest"] => peer.and_then(|p| text(&p.sha256_digest)),
        _ => None,
    }
}

/// A header map as properties see it: only while the plugin can reach it, or in `on_log`
/// (Envoy's properties have no Higress read fallback).
fn visible(map: &HeaderMap, reachable: bool, logging: bool) -> Option<&HeaderMap> {
    (reachable || logging).then_some(map)
}

fn request_property(stream: &HttpStream, path: &[&str]) -> Option<Vec<u8>> {
    let scope = stream.maps;
    let Some(req) = visible(
        &stream.request_headers,
        scope.request_headers,
        scope.logging,
    ) else {
        return match path {
            ["protocol" | "time" | "size"] => request_fact(stream, path),
            // Envoy serves the headers out of reach as an empty map.
            ["headers"] => Some(HeaderMap::new().encode()),
            _ => None,
        };
    };
    let full_path = req.get(b":path");
    match path {
        ["path"] => full_path,
        ["url_path"] => {
            full_path.map(|p| p.split(|b| *b == b'?').next().unwrap_or_default().to_vec())
        }
        // Envoy: the part after `?`, empty (not absent) when the path has none.
        ["query"] => {
            let p = full_path?;
            Some(match p.iter().position(|b| *b == b'?') {
                Some(at) => p[at + 1..].to_vec(),
                None => Vec::new(),
            })
        }
        ["host"] => req.get(b":authority"),
        ["scheme"] => req.get(b":scheme"),
        ["method"] => req.get(b":method"),
        ["referer"] => req.get(b"referer"),
        ["useragent"] => req.get(b"user-agent"),
        ["id"] => req.get(b"x-request-id"),
        ["headers"] => Some(req.encode()),
        ["headers", name] => req.get(name.as_bytes()),
        ["headers_bytes"] => Some(header_bytes(req).to_le_bytes().to_vec()),
        // Envoy: the `content-length` while the headers are there, else the bytes received.
        ["size"] => match req
            .get_str("content-length")
            .and_then(|n| n.parse::<i64>().ok())
        {
            Some(length) => Some(length.to_le_bytes().to_vec()),
            None => request_fact(stream, path),
        },
        _ => request_fact(stream, path),
    }
}

/// The request properties that come from the stream, not its headers.
fn request_fact(stream: &HttpStream, path: &[&str]) -> Option<Vec<u8>> {
    match path {
        ["protocol"] => stream.info.protocol.as_ref().map(|p| p.as_bytes().to_vec()),
        ["time"] => Some(stream.info.start_time_nanos.to_le_bytes().to_vec()),
        ["size"] => Some(
            (stream.info.request_body_bytes as i64)
                .to_le_bytes()
                .to_vec(),
        ),
        _ => None,
    }
}

fn response_property(stream: &HttpStream, path: &[&str]) -> Option<Vec<u8>> {
    let scope = stream.maps;
    let resp = visible(
        &stream.response_headers,
        scope.response_headers,
        scope.logging,
    );
    match path {
        // The status is a fact of the stream in Envoy, readable at any time.
        ["code"] => {
            let status = stream
                .response_headers
                .get_str(":status")?
                .parse::<i64>()
                .ok()?;
            Some(status.to_le_bytes().to_vec())
        }
        ["code_details"] => stream
            .info
            .response_code_details
            .as_ref()
            .map(|d| d.as_bytes().to_vec()),
        ["headers"] => Some(
            resp.map(HeaderMap::encode)
                .unwrap_or_else(|| HeaderMap::new().encode()),
        ),
        ["headers", name] => resp?.get(name.as_bytes()),
        ["trailers"] => Some(stream.response_trailers.encode()),
        ["trailers", name] => stream.response_trailers.get(name.as_bytes()),
        ["size"] => Some((stream.response_body.len() as i64).to_le_bytes().to_vec()),
        _ => None,
    }
}

fn header_bytes(map: &HeaderMap) -> i64 {
    map.pairs
        .iter()
        .map(|(k, v)| (k.len() + v.len()) as i64)
        .sum()
}

fn port(address: Option<&str>) -> Option<Vec<u8>> {
    let port: i64 = address?.rsplit(':').next()?.parse().ok()?;
    Some(port.to_le_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::MapScope;

    fn scope(stream: &HttpStream) -> PropertyScope<'_> {
        PropertyScope {
            stream: Some(stream),
            plugin_name: "p",
            root_id: "",
            vm_id: "",
            vm_memory: 65536,
        }
    }

    #[test]
    fn request_properties_come_from_headers() {
        let open = MapScope {
            request_headers: true,
            ..MapScope::default()
        };
        let stream = HttpStream {
            maps: open,
            request_headers: HeaderMap::from_pairs(&[
                (":path", "/a/b?x=1"),
                (":method", "GET"),
                ("X-Foo", "bar"),
            ]),
            ..HttpStream::default()
        };
        let s = scope(&stream);
        assert_eq!(
            resolve(&s, &[b"request", b"path"]),
            Some(b"/a/b?x=1".to_vec())
        );
        assert_eq!(
            resolve(&s, &[b"request", b"url_path"]),
            Some(b"/a/b".to_vec())
        );
        assert_eq!(resolve(&s, &[b"request", b"query"]), Some(b"x=1".to_vec()));
        assert_eq!(
            resolve(&s, &[b"request", b"headers", b"x-foo"]),
            Some(b"bar".to_vec())
        );
        assert_eq!(resolve(&s, &[b"plugin_name"]), Some(b"p".to_vec()));
        let no_query = HttpStream {
            maps: open,
            request_headers: HeaderMap::from_pairs(&[(":path", "/a/b")]),
            ..HttpStream::default()
        };
        let s = scope(&no_query);
        assert_eq!(resolve(&s, &[b"request", b"query"]), Some(Vec::new()));
        assert_eq!(
            resolve(&s, &[b"plugin_vm_memory"]),
            Some(65536u64.to_le_bytes().to_vec())
        );
        assert_eq!(resolve(&s, &[b"route_name"]), None);
    }

    #[test]
    fn header_properties_follow_the_map_scope() {
        let mut stream = HttpStream {
            request_headers: HeaderMap::from_pairs(&[(":path", "/a"), ("x-a", "1")]),
            response_headers: HeaderMap::from_pairs(&[(":status", "200"), ("x-b", "2")]),
            ..HttpStream::default()
        };
        stream.info.protocol = Some("HTTP/1.1".into());
        let closed = |stream: &HttpStream| {
            let s = scope(stream);
            assert_eq!(resolve(&s, &[b"request", b"path"]), None);
            assert_eq!(resolve(&s, &[b"request", b"headers", b"x-a"]), None);
            assert_eq!(
                resolve(&s, &[b"request", b"headers"]),
                Some(HeaderMap::new().encode())
            );
            assert_eq!(resolve(&s, &[b"response", b"headers", b"x-b"]), None);
            assert_eq!(
                resolve(&s, &[b"request", b"protocol"]),
                Some(b"HTTP/1.1".to_vec())
            );
            assert_eq!(
                resolve(&s, &[b"response", b"code"]),
                Some(200i64.to_le_bytes().to_vec())
            );
        };
        closed(&stream);
        stream.maps.logging = true;
        let s = scope(&stream);
        assert_eq!(resolve(&s, &[b"request", b"path"]), Some(b"/a".to_vec()));
        assert_eq!(
            resolve(&s, &[b"response", b"headers", b"x-b"]),
            Some(b"2".to_vec())
        );
        stream.maps = MapScope {
            response_headers: true,
            ..MapScope::default()
        };
        let s = scope(&stream);
        assert_eq!(resolve(&s, &[b"request", b"path"]), None);
        assert_eq!(
            resolve(&s, &[b"response", b"headers", b"x-b"]),
            Some(b"2".to_vec())
        );
        stream.maps = MapScope::default();
        closed(&stream);
    }

    #[test]
    fn set_values_round_trip_and_ints_are_le() {
        let mut stream = HttpStream::default();
        stream
            .properties
            .insert(b"custom_log".to_vec(), b"{}".to_vec());
        stream.info.source_address = Some("127.0.0.1:5000".into());
        stream.response_headers = HeaderMap::from_pairs(&[(":status", "404")]);
        let s = scope(&stream);
        assert_eq!(resolve(&s, &[b"custom_log"]), Some(b"{}".to_vec()));
        assert_eq!(
            resolve(&s, &[b"source", b"port"]),
            Some(5000i64.to_le_bytes().to_vec())
        );
        assert_eq!(
            resolve(&s, &[b"response", b"code"]),
            Some(404i64.to_le_bytes().to_vec())
        );
    }
}
