//! A request on its way to an upstream: the head built from the plugins' request headers
//! (hop-by-hop headers dropped, `Host` from `:authority` or the route's rewrite, the length
//! framed as Envoy's HTTP/1 encoder does), the body streamed after it, and the answer within
//! the route's time limit.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use wasmgate_host::HeaderMap;

use super::client::Client;
use super::clusters::Endpoint;
use super::reset::{Reset, TERMINATED};
use crate::body::{channel, full, BodySender};
use crate::config::UpstreamProtocol;
use crate::headers;

/// How the body that goes with the head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// The data given is the whole body: its length is exact.
    Whole,
    /// More data follows; `changed` when a plugin changed the body, so the client's
    /// `content-length` no longer holds and the body goes chunked.
    Streamed { changed: bool },
}

/// How the upstream answered.
pub(crate) enum Answer {
    /// The response head arrived; the body streams.
    Response(http::Response<Incoming>),
    /// The exchange failed before the head.
    Reset(Reset),
    /// No head within the route's time limit.
    Timeout,
    /// The task of the exchange ended without an answer (a bug; logged).
    Lost(String),
}

type Exchanged = Result<http::Response<Incoming>, Reset>;

/// The exchange with the upstream, up to the response head.
enum Exchange {
    /// A whole body: nothing else goes on meanwhile, so the exchange runs when the answer is
    /// awaited, in the request's own task.
    Awaited(Pin<Box<dyn Future<Output = Exchanged>>>),
    /// A streamed body: the exchange runs in a task of its own while the body is sent.
    Spawned(tokio::task::JoinHandle<Exchanged>),
}

/// The request sent upstream: the rest of its body goes through [`send`](Self::send), its
/// trailers through [`send_trailers`](Self::send_trailers).
pub(crate) struct UpstreamRequest {
    sender: Option<BodySender>,
    /// Whether trailers go on (HTTP/2; Envoy's HTTP/1 codec drops them by default).
    trailers: bool,
    exchange: Exchange,
}

impl UpstreamRequest {
    /// Sends the head built from `request_headers` to `endpoint`, with the first body data.
    pub(crate) fn start(
        client: &Client,
        endpoint: &Endpoint,
        request_headers: &HeaderMap,
        host_rewrite: Option<&str>,
        first: Vec<u8>,
        framing: Framing,
    ) -> UpstreamRequest {
        let path = headers::pseudo(request_headers, ":path").unwrap_or("/");
        let method = headers::pseudo(request_headers, ":method").unwrap_or("GET");
        let uri = endpoint.uri(path);
        let mut out = headers::http_headers(request_headers);
        strip_hop_by_hop(&mut out);
        headers::keep_upgrade(request_headers, &mut out);
        if let Some(host) = host_rewrite
            .or_else(|| headers::pseudo(request_headers, ":authority"))
            .and_then(|a| http::HeaderValue::from_str(a).ok())
        {
            out.insert(http::header::HOST, host);
        }
        let (sender, body) = match framing {
            Framing::Whole => {
                frame_whole(&mut out, method, first.len());
                (None, full(first))
            }
            Framing::Streamed { changed } => {
                if changed {
                    out.remove(http::header::CONTENT_LENGTH);
                }
                let (tx, body) = channel();
                tx.first(Bytes::from(first));
                (Some(tx), body)
            }
        };
        let request = http::Request::builder().method(method).uri(&uri).body(body);
        let trailers = endpoint.protocol == UpstreamProtocol::Http2;
        let client = client.clone();
        let endpoint = endpoint.clone();
        // Boxed, as the walk's task: hyper's client futures are kilobytes large.
        let exchanged = Box::pin(async move {
            let mut request = request.map_err(|e| Reset {
                message: format!("the request is not valid HTTP: {e}"),
                reason: TERMINATED,
            })?;
            *request.headers_mut() = out;
            client.send(&endpoint, request).await
        });
        let exchange = if sender.is_some() {
            Exchange::Spawned(tokio::task::spawn_local(exchanged))
        } else {
            Exchange::Awaited(exchanged)
        };
        UpstreamRequest {
            sender,
            trailers,
            exchange,
        }
    }

    /// Sends more body data. An upstream that stopped reading gets no more; its answer (or
    /// error) tells the rest.
    pub(crate) async fn send(&mut self, data: Vec<u8>) {
        if let Some(tx) = &self.sender {
            if tx.data(Bytes::from(data)).await.is_err() {
                self.sender = None;
            }
        }
    }

    /// Sends the trailers, which end the body (dropped for an HTTP/1 upstream).
    pub(crate) async fn send_trailers(&mut self, trailers: http::HeaderMap) {
        if let (Some(tx), true) = (self.sender.take(), self.trailers) {
            let _ = tx.trailers(trailers).await;
        }
    }

    /// Ends the body and waits for the response head, at most `timeout` (`None`: no limit).
    pub(crate) async fn answer(mut self, timeout: Option<Duration>) -> Answer {
        self.sender = None;
        let exchanged = match self.exchange {
            Exchange::Awaited(exchanged) => within(timeout, exchanged).await.map(Ok),
            Exchange::Spawned(task) => within(timeout, task).await,
        };
        match exchanged {
            None => Answer::Timeout,
            Some(Ok(Ok(response))) => Answer::Response(response),
            Some(Ok(Err(reset))) => Answer::Reset(reset),
            Some(Err(join)) => Answer::Lost(join.to_string()),
        }
    }
}

/// What `future` gives within `limit` (`None`: no limit); `None` when the limit passed.
async fn within<F: Future>(limit: Option<Duration>, future: F) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, future).await.ok(),
        None => Some(future.await),
    }
}

/// The length of a whole body: exact; an empty one keeps a `content-length: 0` when the
/// client sent one or the method carries a body, as Envoy's HTTP/1 encoder does.
fn frame_whole(out: &mut http::HeaderMap, method: &str, length: usize) {
    let carries_body = matches!(method, "POST" | "PUT" | "PATCH");
    if out.remove(http::header::CONTENT_LENGTH).is_some() || length > 0 || carries_body {
        out.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(length),
        );
    }
}

/// The client's hop-by-hop headers go no further; a `te: trailers` does, as in Envoy (gRPC
/// upstreams want it).
fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    let te_trailers = headers
        .get(http::header::TE)
        .is_some_and(|te| te.as_bytes().eq_ignore_ascii_case(b"trailers"));
    use http::header::{CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
    for name in [CONNECTION, TRANSFER_ENCODING, TE, TRAILER, UPGRADE] {
        headers.remove(name);
    }
    for name in ["keep-alive", "proxy-connection"] {
        headers.remove(name);
    }
    if te_trailers {
        headers.insert(http::header::TE, http::HeaderValue::from_static("trailers"));
    }
}
