//! The pooled HTTP clients of one worker, for requests to upstreams and plugins' callouts:
//! HTTP/1.1 (`http1.rs`: plain, or over TLS with rustls for `https://` endpoints), and
//! HTTP/2 for the clusters with `protocol: http2` (h2c with prior knowledge, or TLS with ALPN
//! `h2`), one multiplexed connection per endpoint. The endpoint's protocol picks the client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::TokioExecutor;

use super::clusters::Endpoint;
use super::connect::{open, Handshake};
use super::http1::Http1Pool;
use super::reset::{with_causes, Reset, CONNECT_FAILURE, TERMINATED};
use crate::body::Body;
use crate::config::UpstreamProtocol;

/// The clients callouts and upstream requests use (cheap to clone: clones share the pools).
#[derive(Clone)]
pub(crate) struct Client {
    http1: Http1Pool,
    http2: Http2Pool,
}

/// New pools for `http://` and (with `tls`) `https://` URIs.
pub(crate) fn client(tls: &rustls::ClientConfig) -> Client {
    let mut h2_tls = tls.clone();
    h2_tls.alpn_protocols = vec![b"h2".to_vec()];
    Client {
        http1: Http1Pool::new(tls),
        http2: Http2Pool {
            tls: Arc::new(h2_tls),
            connections: Arc::default(),
        },
    }
}

impl Client {
    /// Sends `request` to `endpoint` in its protocol. The request's URI is the absolute one
    /// at the endpoint ([`Endpoint::uri`]) and its `Host` header the authority the upstream
    /// is to see; over HTTP/2 that authority becomes `:authority`.
    pub(crate) async fn send(
        &self,
        endpoint: &Endpoint,
        request: http::Request<Body>,
    ) -> Result<http::Response<Incoming>, Reset> {
        match endpoint.protocol {
            UpstreamProtocol::Http1 => self.http1.send(endpoint, request).await,
            // Boxed: the HTTP/2 connect path (TCP, TLS, handshake) would make every HTTP/1
            // exchange's future as large as its own, and a large future costs a copy.
            UpstreamProtocol::Http2 => {
                Box::pin(self.http2.send(endpoint, as_h2(endpoint, request)?)).await
            }
        }
    }
}

/// A request made fit for HTTP/2: `Host` moved into the URI's authority (`:authority`), and
/// no connection-specific headers (HTTP/2 forbids them; a `te` other than `trailers` too).
fn as_h2(endpoint: &Endpoint, request: http::Request<Body>) -> Result<http::Request<Body>, Reset> {
    let (mut parts, body) = request.into_parts();
    let host = parts.headers.remove(http::header::HOST);
    let authority = host
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok());
    let mut uri = std::mem::take(&mut parts.uri).into_parts();
    if authority.is_some() {
        uri.authority = authority;
    }
    parts.uri = http::Uri::from_parts(uri).map_err(|e| Reset {
        message: format!("no HTTP/2 request for {}: {e}", endpoint.address),
        reason: TERMINATED,
    })?;
    parts.version = http::Version::HTTP_2;
    let headers = &mut parts.headers;
    if let Some(named) = headers.remove(http::header::CONNECTION) {
        // Headers the `connection` header names are this connection's too.
        for name in named.to_str().unwrap_or_default().split(',') {
            headers.remove(name.trim());
        }
    }
    for name in [
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
    if headers
        .get(http::header::TE)
        .is_some_and(|te| !te.as_bytes().eq_ignore_ascii_case(b"trailers"))
    {
        headers.remove(http::header::TE);
    }
    Ok(http::Request::from_parts(parts, body))
}

/// A connection per endpoint (`host:port`, TLS or not), shared by every request to it.
type Connections = HashMap<(String, bool), Arc<tokio::sync::Mutex<Option<Sender>>>>;

type Sender = http2::SendRequest<Body>;

/// The HTTP/2 connections of one worker: one per endpoint, its requests multiplexed, set up
/// by the first request that needs it (the others wait for it) and again once it closed.
#[derive(Clone)]
struct Http2Pool {
    /// The gateway's roots, offering only `h2` by ALPN.
    tls: Arc<rustls::ClientConfig>,
    connections: Arc<Mutex<Connections>>,
}

impl Http2Pool {
    async fn send(
        &self,
        endpoint: &Endpoint,
        request: http::Request<Body>,
    ) -> Result<http::Response<Incoming>, Reset> {
        let terminated = |e: &hyper::Error| Reset {
            message: with_causes(e),
            reason: TERMINATED,
        };
        let mut sender = self.sender(endpoint).await?;
        let request = match sender.try_send_request(request).await {
            Ok(response) => return Ok(response),
            Err(mut e) => match e.take_message() {
                Some(request) => request,
                None => return Err(terminated(e.error())),
            },
        };
        // The connection closed before the request left: once more, on a new one.
        let mut sender = self.sender(endpoint).await?;
        sender
            .try_send_request(request)
            .await
            .map_err(|e| terminated(e.error()))
    }

    /// The endpoint's open connection, or a new one.
    async fn sender(&self, endpoint: &Endpoint) -> Result<Sender, Reset> {
        let slot = {
            let mut connections = self
                .connections
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            connections
                .entry((endpoint.address.clone(), endpoint.tls))
                .or_default()
                .clone()
        };
        let mut slot = slot.lock().await;
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        *slot = None;
        let sender = open::<Http2>(endpoint, &self.tls)
            .await
            .map_err(|message| Reset {
                message: format!("HTTP/2 connection to {}: {message}", endpoint.address),
                reason: CONNECT_FAILURE,
            })?;
        *slot = Some(sender.clone());
        Ok(sender)
    }
}

/// HTTP/2: its connection runs in a task of its own until the upstream or the last request
/// closes it.
struct Http2;

impl Handshake for Http2 {
    type Sender = Sender;

    async fn handshake<T>(io: T) -> Result<Sender, String>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .handshake(io)
            .await
            .map_err(|e| with_causes(&e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("an upstream HTTP/2 connection ended: {}", with_causes(&e));
            }
        });
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::full;

    #[test]
    fn an_h2_request_has_its_host_as_authority_and_no_connection_headers() {
        let endpoint = Endpoint {
            address: "127.0.0.1:9000".into(),
            tls: false,
            protocol: UpstreamProtocol::Http2,
        };
        let request = http::Request::builder()
            .uri(endpoint.uri("/a?b=1"))
            .header("host", "api.test")
            .header("connection", "keep-alive, x-hop")
            .header("x-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("transfer-encoding", "chunked")
            .header("upgrade", "websocket")
            .header("proxy-connection", "close")
            .header("te", "trailers")
            .header("x-kept", "yes")
            .body(full(""))
            .expect("a request");
        let Ok(request) = as_h2(&endpoint, request) else {
            panic!("refused");
        };
        assert_eq!(request.uri(), "http://api.test/a?b=1");
        assert_eq!(request.version(), http::Version::HTTP_2);
        let mut names: Vec<_> = request.headers().keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["te", "x-kept"]);
    }

    #[test]
    fn an_h2_request_without_host_keeps_the_endpoint_and_a_te_other_than_trailers_goes() {
        let endpoint = Endpoint {
            address: "localhost:9443".into(),
            tls: true,
            protocol: UpstreamProtocol::Http2,
        };
        let request = http::Request::builder()
            .uri(endpoint.uri("/"))
            .header("te", "gzip")
            .body(full(""))
            .expect("a request");
        let Ok(request) = as_h2(&endpoint, request) else {
            panic!("refused");
        };
        assert_eq!(request.uri(), "https://localhost:9443/");
        assert!(request.headers().is_empty());
    }
}
