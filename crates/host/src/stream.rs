//! The state of one HTTP stream as a plugin sees it: headers, bodies and trailers in both
//! directions, the per-request facts properties are read from, the properties the plugin
//! set, and the actions it asked for that take effect when its callback returns.

use std::collections::HashMap;
use std::sync::Arc;

/// The most pairs a plugin may make a header map hold (the `http` crate's maps end at
/// 32,768; Envoy's codecs refuse far fewer).
pub const MAX_HEADER_PAIRS: usize = 8192;
/// The most bytes of names and values a plugin may make a header map hold (up to one
/// [`MAX_HEADER_PAIR_BYTES`] pair per [`BYTES_CHECKED_EVERY`] pairs past it: the sum is
/// taken every so many pairs, so that adding pairs one by one stays cheap).
pub const MAX_HEADER_BYTES: usize = 1 << 20;
/// The most bytes of one name and value a plugin may add.
pub const MAX_HEADER_PAIR_BYTES: usize = 64 << 10;
const BYTES_CHECKED_EVERY: usize = 16;
/// The most bytes a plugin may make a body hold with `proxy_set_buffer_bytes` (edits one
/// call at a time could otherwise grow it past any memory; the gateway's own body limit,
/// 10 MiB by default, is far lower).
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// A header map as proxy-wasm sees it: ordered pairs of bytes, lower-case names,
/// pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`, `:status`) as entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap {
    /// The pairs in order.
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl HeaderMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// A map from text pairs; names are lower-cased.
    pub fn from_pairs<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Self {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.add(k.as_ref(), v.as_ref());
        }
        map
    }

    /// The first value of `name`: what Envoy's `proxy_get_header_map_value` answers when a
    /// name has several.
    pub fn first(&self, name: &[u8]) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The values of `name` joined with `,`: what Envoy's `request.headers.<name>` property
    /// answers.
    pub fn get(&self, name: &[u8]) -> Option<Vec<u8>> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name));
        let (_, first) = values.next()?;
        let mut joined = first.clone();
        for (_, v) in values {
            joined.push(b',');
            joined.extend_from_slice(v);
        }
        Some(joined)
    }

    /// The first value of `name` as text, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Appends a value; the name is lower-cased.
    pub fn add(&mut self, name: &[u8], value: &[u8]) {
        self.pairs.push((name.to_ascii_lowercase(), value.to_vec()));
    }

    /// Replaces every value of `name` with one value (adds it when absent).
    pub fn replace(&mut self, name: &[u8], value: &[u8]) {
        match self
            .pairs
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(first) => {
                self.pairs[first].1 = value.to_vec();
                let mut index = 0;
                self.pairs.retain(|(k, _)| {
                    index += 1;
                    index - 1 == first || !k.eq_ignore_ascii_case(name)
                });
            }
            None => self.add(name, value),
        }
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &[u8]) {
        self.pairs.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// The bytes of its names and values.
    pub fn byte_size(&self) -> usize {
        self.pairs.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// Whether one more pair of these sizes keeps the map within what a plugin may make
    /// ([`MAX_HEADER_PAIRS`], [`MAX_HEADER_BYTES`]).
    pub fn fits(&self, name: usize, value: usize) -> bool {
        let len = self.len();
        len < MAX_HEADER_PAIRS
            && name + value <= MAX_HEADER_PAIR_BYTES
            && (!len.is_multiple_of(BYTES_CHECKED_EVERY)
                || self.byte_size() + name + value <= MAX_HEADER_BYTES)
    }

    /// Whether pairs a plugin gives as a whole map are within what it may make (the sum of
    /// their bytes at most [`MAX_HEADER_BYTES`]).
    pub fn pairs_fit<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> bool {
        let bytes: usize = pairs
            .iter()
            .map(|(k, v)| k.as_ref().len() + v.as_ref().len())
            .sum();
        pairs.len() <= MAX_HEADER_PAIRS && bytes <= MAX_HEADER_BYTES
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the map has no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The wire encoding of the map.
    pub fn encode(&self) -> Vec<u8> {
        wasmgate_abi::pairs::encode(&self.pairs)
    }

    /// The wire encoding, or no bytes at all for an empty map (as Envoy returns one).
    pub fn encode_nonempty(&self) -> Vec<u8> {
        if self.pairs.is_empty() {
            Vec::new()
        } else {
            self.encode()
        }
    }
}

/// Facts about a request that plugins read as properties and that no header carries. The
/// fixed facts are shared strings: each plugin's stream gets a copy without allocating.
#[derive(Debug, Clone, Default)]
pub struct StreamInfo {
    /// `route_name` / `xds.route_name`.
    pub route_name: Option<Arc<str>>,
    /// `cluster_name` / `xds.cluster_name` (Higress-style `outbound|port|subset|fqdn`).
    pub cluster_name: Option<Arc<str>>,
    /// `source.address` (`ip:port`).
    pub source_address: Option<Arc<str>>,
    /// `destination.address` (`ip:port`).
    pub destination_address: Option<Arc<str>>,
    /// `connection.id`.
    pub connection_id: u64,
    /// `request.protocol` (`HTTP/1.1`, `HTTP/2`).
    pub protocol: Option<Arc<str>>,
    /// `upstream.address` once known.
    pub upstream_address: Option<String>,
    /// `response.code_details` once known (`via_upstream` for an upstream reply).
    pub response_code_details: Option<String>,
    /// `request.time`, nanoseconds since the Unix epoch.
    pub start_time_nanos: i64,
    /// The request body bytes received so far: `request.size` when the request headers
    /// (and their `content-length`) are out of reach, as Envoy's bytes received.
    pub request_body_bytes: u64,
    /// The TLS facts of the client connection, when it is TLS (`connection.*`).
    pub tls: Option<Arc<TlsFacts>>,
}

/// What a TLS client connection shows plugins, as Envoy's `connection.*` attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// `connection.requested_server_name`: the SNI the client sent (empty without).
    pub requested_server_name: String,
    /// `connection.tls_version`: `TLSv1.2` or `TLSv1.3`.
    pub tls_version: String,
    /// The gateway's certificate (`connection.*_local_certificate`).
    pub local: CertificateFacts,
    /// The client's certificate, when it presented one (`connection.*_peer_certificate`,
    /// and `connection.mtls` true).
    pub peer: Option<CertificateFacts>,
}

/// The fields of a certificate plugins read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The subject in RFC 2253 form (`CN=client,O=example`), as Envoy prints it.
    pub subject: String,
    /// The first DNS subject alternative name.
    pub dns_san: Option<String>,
    /// The first URI subject alternative name.
    pub uri_san: Option<String>,
    /// The SHA-256 digest of the DER certificate, lower-case hex.
    pub sha256_digest: String,
}

/// A reply the plugin produced itself with `proxy_send_local_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    /// HTTP status code.
    pub status: u32,
    /// Envoy's response code details string.
    pub details: String,
    /// Body.
    pub body: Vec<u8>,
    /// Extra headers.
    pub headers: HeaderMap,
    /// gRPC status, if the reply is a gRPC one.
    pub grpc_status: Option<i32>,
}

/// Actions a plugin asked for that the embedder applies when the callback returns.
#[derive(Debug, Clone, Default)]
pub struct Deferred {
    /// `proxy_continue_stream(HTTP_REQUEST)` (or 0.1.0 `continue_request`).
    pub resume_request: bool,
    /// `proxy_continue_stream(HTTP_RESPONSE)`.
    pub resume_response: bool,
    /// `proxy_close_stream`.
    pub close: bool,
    /// `proxy_send_local_response`.
    pub local_reply: Option<LocalReply>,
    /// Data was injected into the stream's open response from a callback outside its
    /// phases ([`HttpStream::response_open`]): the embedder sends it on at once.
    pub open_response_data: bool,
}

impl Deferred {
    /// Whether any action is pending.
    pub fn any(&self) -> bool {
        self.resume_request
            || self.resume_response
            || self.close
            || self.local_reply.is_some()
            || self.open_response_data
    }
}

/// Which of a stream's header maps the plugin can reach, as Envoy scopes them: a header map
/// is handed to the plugin when its headers callback starts and taken back when that callback
/// returns Continue; a stop keeps it until the stream resumes (`proxy_continue_stream`, of
/// either direction, takes back the request map; Envoy does the same). `on_log` reads both
/// again. The host keeps this; an embedder has no need to touch it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapScope {
    /// The request headers are the plugin's to read and change.
    pub request_headers: bool,
    /// The response headers are the plugin's to read and change.
    pub response_headers: bool,
    /// `proxy_on_log` is running: both header maps are readable, not writable.
    pub logging: bool,
}

/// The stream state a VM keeps for one HTTP context.
#[derive(Debug, Default)]
pub struct HttpStream {
    /// Request headers (held here while the plugin may read or change them).
    pub request_headers: HeaderMap,
    /// The request body buffered so far.
    pub request_body: Vec<u8>,
    /// Request trailers.
    pub request_trailers: HeaderMap,
    /// Response headers.
    pub response_headers: HeaderMap,
    /// The response body buffered so far.
    pub response_body: Vec<u8>,
    /// Response trailers.
    pub response_trailers: HeaderMap,
    /// Per-request facts.
    pub info: StreamInfo,
    /// Properties the plugin set, by raw path.
    pub properties: HashMap<Vec<u8>, Vec<u8>>,
    /// Actions waiting for the embedder.
    pub deferred: Deferred,
    /// Response data the plugin injected after itself (Higress's
    /// `proxy_inject_encoded_data_to_filter_chain` and the foreign functions
    /// `inject_encoded_data_to_filter_chain*`), waiting for the embedder to send it on.
    pub injected: Option<Injected>,
    /// The address given with Higress's `proxy_set_upstream_override_host`.
    pub upstream_override_host: Option<String>,
    /// Whether `proxy_on_done` returned false and `proxy_done` has not come yet.
    pub done_pending: bool,
    /// Which header maps the plugin can reach now.
    pub maps: MapScope,
    /// The plugin answered with an open response (the foreign function
    /// `wasmgate_open_response`): its headers went out as a local reply's, and its body is
    /// what the plugin injects (`injected`) from any callback until an injection ends it.
    pub response_open: bool,
    /// The plugin changed the request headers without turning route clearing off (Higress's
    /// `clear_route_cache: off`): as Envoy, the embedder matches the route again.
    pub clears_route: bool,
}

impl HttpStream {
    /// The value a plugin set with `proxy_set_property` for a single-segment name.
    pub fn property(&self, name: &str) -> Option<&[u8]> {
        self.properties.get(name.as_bytes()).map(Vec::as_slice)
    }

    /// Records a change of the request headers (see [`HttpStream::clears_route`]).
    pub(crate) fn note_request_headers_changed(&mut self) {
        if self.property("clear_route_cache") != Some(b"off".as_slice()) {
            self.clears_route = true;
        }
    }
}

/// Response data a plugin injected into the filter chain after itself: it goes to the
/// plugins after it and the client, and the response may end with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Injected {
    /// The data, in the order it was injected.
    pub data: Vec<u8>,
    /// Whether the response ends with it (the rest of the upstream's body is dropped).
    pub end_of_stream: bool,
}

impl Injected {
    /// Adds data injected by one more call.
    pub fn add(slot: &mut Option<Injected>, data: &[u8], end_of_stream: bool) {
        let injected = slot.get_or_insert_with(Injected::default);
        injected.data.extend_from_slice(data);
        injected.end_of_stream |= end_of_stream;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_map_is_case_insensitive_and_joins_repeats() {
        let mut map = HeaderMap::from_pairs(&[("X-A", "1"), ("x-b", "2"), ("x-a", "3")]);
        assert_eq!(map.get(b"x-a"), Some(b"1,3".to_vec()));
        assert_eq!(map.first(b"X-a"), Some(b"1".as_slice()));
        map.replace(b"X-A", b"9");
        assert_eq!(
            map.pairs,
            vec![
                (b"x-a".to_vec(), b"9".to_vec()),
                (b"x-b".to_vec(), b"2".to_vec())
            ]
        );
        map.remove(b"x-B");
        assert_eq!(map.len(), 1);
        map.replace(b"new", b"v");
        assert_eq!(map.get_str("new"), Some("v"));
    }
}
