//! Plugins' gRPC calls and streams: a POST over HTTP/2 to the cluster's endpoint with
//! `content-type: application/grpc`, `te: trailers` and (for a call with a timeout)
//! `grpc-timeout`, messages in 5-byte length-prefixed frames; what comes back is reported as
//! [`GrpcEvent`]s in wire order, failures as the status Envoy's gRPC client gives them.
//!
//! Envoy's rules (`source/common/grpc/async_client_impl.cc` and its router's local replies):
//! an upstream that cannot be reached gets the router's gRPC local reply, UNAVAILABLE with
//! the reset text; a call past its timeout, the router's timeout reply (UNAVAILABLE too,
//! `upstream request timeout`); a response other
//! than HTTP 200 is CANCELLED unless it is a trailers-only one with a `grpc-status`; a reset
//! after the head is INTERNAL, a compressed message too; a response that ends without
//! trailers is UNKNOWN. A failure is always reported as trailing metadata, then the close.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use wasmgate_host::abi::GrpcCode;
use wasmgate_host::{GrpcEvent, GrpcTarget, HeaderMap};

use crate::body::Body;
use crate::config::UpstreamProtocol;
use crate::headers;
use crate::upstream::client::Client;
use crate::upstream::reset::{reset_body, with_causes, CONNECT_FAILURE};
use crate::upstream::Endpoint;

/// The text of the router's local reply for a call past its timeout.
const TIMEOUT_TEXT: &str = "upstream request timeout";

/// The status the router's local reply gives a call past its timeout: its 504 mapped as
/// the gRPC spec maps HTTP codes, UNAVAILABLE (measured against Envoy 1.40, not
/// DEADLINE_EXCEEDED).
const TIMEOUT_STATUS: GrpcCode = GrpcCode::Unavailable;

/// One call or stream to perform: where it goes and what it carries.
pub(crate) struct Exchange<'a> {
    pub(crate) client: &'a Client,
    pub(crate) endpoint: &'a Endpoint,
    pub(crate) target: &'a GrpcTarget,
    /// The plugin's timeout in milliseconds (0: none).
    pub(crate) timeout_ms: u32,
}

/// A message in gRPC's framing: an uncompressed flag, the length, the bytes.
pub(crate) fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.extend_from_slice(&[0]);
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    framed.freeze()
}

impl Exchange<'_> {
    /// Sends the request with `body` (framed messages) and reports every event to
    /// `report`, the last one a [`GrpcEvent::Close`].
    pub(crate) async fn run(&self, body: Body, report: &mut impl FnMut(GrpcEvent)) {
        let exchange = self.exchange(body, report);
        if self.timeout_ms == 0 {
            return exchange.await;
        }
        let timeout = Duration::from_millis(u64::from(self.timeout_ms));
        if tokio::time::timeout(timeout, exchange).await.is_err() {
            tracing::warn!(
                "gRPC call {} to {} timed out after {} ms",
                self.target.path(),
                self.target.cluster,
                self.timeout_ms
            );
            local_reply(report, TIMEOUT_STATUS, TIMEOUT_TEXT);
        }
    }

    async fn exchange(&self, body: Body, report: &mut impl FnMut(GrpcEvent)) {
        if self.endpoint.protocol != UpstreamProtocol::Http2 {
            tracing::warn!(
                "gRPC call to cluster {} refused: gRPC needs HTTP/2; give the cluster \
                 `protocol: http2`",
                self.target.cluster
            );
            let text = reset_body(CONNECT_FAILURE);
            return local_reply(report, GrpcCode::Unavailable, &text);
        }
        let request = match self.request(body) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(
                    "gRPC call {} is not a valid request: {e}",
                    self.target.path()
                );
                return failure(report, GrpcCode::Internal);
            }
        };
        match self.client.send(self.endpoint, request).await {
            Ok(response) => read_response(response, report).await,
            Err(reset) => {
                tracing::warn!(
                    "gRPC call to {} ({}) failed: {}",
                    self.target.cluster,
                    self.endpoint.address,
                    reset.message
                );
                local_reply(report, GrpcCode::Unavailable, &reset_body(reset.reason));
            }
        }
    }

    /// The request: the plugin's metadata, then gRPC's own headers.
    fn request(&self, body: Body) -> Result<http::Request<Body>, http::Error> {
        let uri = self.endpoint.uri(&self.target.path());
        let mut request = http::Request::builder().method("POST").uri(uri);
        if let Some(headers) = request.headers_mut() {
            *headers = headers::http_headers(&self.target.initial_metadata);
            let mut set = |name: http::header::HeaderName, value: &str| {
                if let Ok(value) = http::HeaderValue::from_str(value) {
                    headers.insert(name, value);
                }
            };
            set(http::header::HOST, &self.target.authority);
            set(http::header::CONTENT_TYPE, "application/grpc");
            set(http::header::TE, "trailers");
            if self.timeout_ms > 0 {
                let name = http::header::HeaderName::from_static("grpc-timeout");
                set(name, &format!("{}m", self.timeout_ms));
            }
        }
        request.body(body)
    }
}

/// Reads the head, the messages and the trailers of a response, as Envoy's client does.
async fn read_response(response: http::Response<Incoming>, report: &mut impl FnMut(GrpcEvent)) {
    let (parts, mut body) = response.into_parts();
    let head = headers::response_map(parts.status, &parts.headers);
    let headers_only = hyper::body::Body::is_end_stream(&body);
    if parts.status != http::StatusCode::OK {
        if headers_only && head.get(b"grpc-status").is_some() {
            report(GrpcEvent::InitialMetadata(HeaderMap::new()));
            return trailers(report, head);
        }
        report(GrpcEvent::InitialMetadata(if headers_only {
            HeaderMap::new()
        } else {
            head
        }));
        return failure(report, GrpcCode::Cancelled);
    }
    if headers_only {
        // Trailers-only: the head is the trailers.
        report(GrpcEvent::InitialMetadata(HeaderMap::new()));
        return trailers(report, head);
    }
    report(GrpcEvent::InitialMetadata(head));
    let mut frames = Frames::default();
    loop {
        let frame = match body.frame().await {
            None => return failure(report, GrpcCode::Unknown),
            Some(Err(e)) => {
                tracing::warn!("a gRPC response was reset: {}", with_causes(&e));
                return failure(report, GrpcCode::Internal);
            }
            Some(Ok(frame)) => frame,
        };
        match frame.into_data() {
            Ok(data) => {
                frames.extend(&data);
                while let Some(message) = frames.next_message() {
                    match message {
                        Ok(message) => report(GrpcEvent::Message(message)),
                        Err(()) => return failure(report, GrpcCode::Internal),
                    }
                }
            }
            Err(frame) => {
                if let Ok(map) = frame.into_trailers() {
                    let mut trailing = HeaderMap::new();
                    for (name, value) in &map {
                        trailing.add(name.as_str().as_bytes(), value.as_bytes());
                    }
                    return trailers(report, trailing);
                }
            }
        }
    }
}

/// The trailers, then the close with their `grpc-status` (UNKNOWN without one).
fn trailers(report: &mut impl FnMut(GrpcEvent), trailing: HeaderMap) {
    let status = trailing
        .get_str("grpc-status")
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(GrpcCode::Unknown.raw());
    let message = trailing.get_str("grpc-message").unwrap_or("").to_string();
    report(GrpcEvent::TrailingMetadata(trailing));
    report(GrpcEvent::Close { status, message });
}

/// A failure of the stream itself: empty trailers, then the close.
fn failure(report: &mut impl FnMut(GrpcEvent), code: GrpcCode) {
    report(GrpcEvent::TrailingMetadata(HeaderMap::new()));
    report(GrpcEvent::Close {
        status: code.raw(),
        message: String::new(),
    });
}

/// The router's gRPC local reply (a trailers-only response), as the client reads it.
fn local_reply(report: &mut impl FnMut(GrpcEvent), code: GrpcCode, text: &str) {
    let status = code.raw().to_string();
    let head = HeaderMap::from_pairs(&[
        (":status", "200"),
        ("content-type", "application/grpc"),
        ("grpc-status", status.as_str()),
        ("grpc-message", text),
    ]);
    report(GrpcEvent::InitialMetadata(HeaderMap::new()));
    trailers(report, head);
}

/// Response data cut into messages.
#[derive(Default)]
struct Frames {
    buffer: BytesMut,
}

impl Frames {
    fn extend(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// The next whole message; `Err` for a compressed one (no compression was offered).
    fn next_message(&mut self) -> Option<Result<Vec<u8>, ()>> {
        let head: [u8; 5] = self.buffer.get(..5)?.try_into().ok()?;
        let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if self.buffer.len() < 5 + length {
            return None;
        }
        self.buffer.advance(5);
        let message = self.buffer.split_to(length).to_vec();
        if head[0] != 0 && length > 0 {
            return Some(Err(()));
        }
        Some(Ok(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_from_data_split_anywhere() {
        let mut wire = frame(b"one").to_vec();
        wire.extend_from_slice(&frame(b""));
        wire.extend_from_slice(&frame(b"three"));
        let mut frames = Frames::default();
        let mut messages = Vec::new();
        for byte in wire.chunks(2) {
            frames.extend(byte);
            while let Some(message) = frames.next_message() {
                messages.push(message);
            }
        }
        assert_eq!(
            messages,
            [Ok(b"one".to_vec()), Ok(Vec::new()), Ok(b"three".to_vec())]
        );
    }

    #[test]
    fn a_compressed_message_is_refused() {
        let mut wire = frame(b"zz").to_vec();
        wire[0] = 1;
        let mut frames = Frames::default();
        frames.extend(&wire);
        assert_eq!(frames.next_message(), Some(Err(())));
    }
}
