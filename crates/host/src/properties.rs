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
        ["connection", "mtls"] => Some(vec![0]),
        _ => None,
    }
}

fn request_property(stream: &HttpStream, path: &[&str]) -> Option<Vec<u8>> {
    let req = &stream.request_headers;
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
        ["protocol"] => stream.info.protocol.as_ref().map(|p| p.as_bytes().to_vec()),
        ["time"] => Some(stream.info.start_time_nanos.to_le_bytes().to_vec()),
        ["headers"] => Some(req.encode()),
        ["headers", name] => req.get(name.as_bytes()),
        ["headers_bytes"] => Some(header_bytes(req).to_le_bytes().to_vec()),
        ["size"] => Some((stream.request_body.len() as i64).to_le_bytes().to_vec()),
        _ => None,
    }
}

fn response_property(stream: &HttpStream, path: &[&str]) -> Option<Vec<u8>> {
    let resp = &stream.response_headers;
    match path {
        ["code"] => {
            let status = resp.get_str(":status")?.parse::<i64>().ok()?;
            Some(status.to_le_bytes().to_vec())
        }
        ["code_details"] => stream
            .info
            .response_code_details
            .as_ref()
            .map(|d| d.as_bytes().to_vec()),
        ["headers"] => Some(resp.encode()),
        ["headers", name] => resp.get(name.as_bytes()),
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
        let stream = HttpStream {
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
