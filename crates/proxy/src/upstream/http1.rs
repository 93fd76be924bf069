//! HTTP/1.1 connections to upstreams, kept open per worker and endpoint and used again, one
//! request at a time each (plain, or TLS with rustls for `https://` endpoints).
//!
//! Written here rather than taken from hyper-util's pooled client: that client is made to be
//! shared between threads (a lock, a hashed key and a task per request to return a
//! connection) where a worker's connections never leave its thread; counted per request it
//! was most of the gateway's pool and hashing cost (docs/benchmarks.md). The connections are
//! hyper's own (`hyper::client::conn::http1`).
//!
//! A connection goes back to its endpoint's idle queue once hyper says it is ready for the
//! next request (its response body read): a small task waits for that. The last one back is
//! taken first. A request that a connection closed before sending goes out once more on
//! another.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::client::conn::http1;

use super::clusters::Endpoint;
use super::connect::{open, Handshake};
use super::reset::{with_causes, Reset, CONNECT_FAILURE, PROTOCOL_ERROR, TERMINATED};
use crate::body::Body;

type Sender = http1::SendRequest<Body>;

/// One worker's HTTP/1.1 connections, by endpoint (cheap to clone: clones share them).
#[derive(Clone)]
pub(crate) struct Http1Pool {
    /// The gateway's roots, offering `http/1.1` by ALPN.
    tls: Arc<rustls::ClientConfig>,
    queues: Rc<RefCell<Vec<Queue>>>,
}

/// One endpoint's idle connections, the last one back at the end.
struct Queue {
    /// `host:port`.
    address: String,
    tls: bool,
    idle: Vec<Sender>,
}

impl Http1Pool {
    pub(crate) fn new(tls: &rustls::ClientConfig) -> Http1Pool {
        let mut tls = tls.clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Http1Pool {
            tls: Arc::new(tls),
            queues: Rc::default(),
        }
    }

    /// Sends `request` (its URI absolute at the endpoint, its `Host` set) and waits for the
    /// response head.
    pub(crate) async fn send(
        &self,
        endpoint: &Endpoint,
        request: http::Request<Body>,
    ) -> Result<http::Response<Incoming>, Reset> {
        let mut request = origin_form(request);
        let queue = self.queue_index(endpoint);
        while let Some(mut sender) = self.take_ready(queue) {
            match sender.try_send_request(request).await {
                Ok(response) => {
                    self.put_back(queue, sender);
                    return Ok(response);
                }
                Err(mut e) => match e.take_message() {
                    // The connection closed before the request left: another one.
                    Some(unsent) => request = unsent,
                    None => return Err(failed(e.error())),
                },
            }
        }
        let mut sender = open::<Http1>(endpoint, &self.tls)
            .await
            .map_err(|message| Reset {
                message: format!("HTTP/1.1 connection to {}: {message}", endpoint.address),
                reason: CONNECT_FAILURE,
            })?;
        let response = sender
            .try_send_request(request)
            .await
            .map_err(|e| failed(e.error()))?;
        self.put_back(queue, sender);
        Ok(response)
    }

    /// The index of `endpoint`'s queue (made on its first request; queues stay).
    fn queue_index(&self, endpoint: &Endpoint) -> usize {
        let mut queues = self.queues.borrow_mut();
        if let Some(index) = queues
            .iter()
            .position(|q| q.address == endpoint.address && q.tls == endpoint.tls)
        {
            return index;
        }
        queues.push(Queue {
            address: endpoint.address.clone(),
            tls: endpoint.tls,
            idle: Vec::new(),
        });
        queues.len() - 1
    }

    /// An idle connection of queue `index` ready for a request; closed ones go.
    fn take_ready(&self, index: usize) -> Option<Sender> {
        let mut queues = self.queues.borrow_mut();
        let idle = &mut queues[index].idle;
        while let Some(sender) = idle.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// Puts `sender` back in idle queue `index` once it is ready for another request.
    fn put_back(&self, index: usize, mut sender: Sender) {
        let queues = Rc::downgrade(&self.queues);
        tokio::task::spawn_local(async move {
            if sender.ready().await.is_ok() {
                if let Some(queues) = queues.upgrade() {
                    queues.borrow_mut()[index].idle.push(sender);
                }
            }
        });
    }
}

/// HTTP/1.1: its connection runs in a task of its own (upgrades included) until the upstream
/// closes it or its sender is dropped.
struct Http1;

impl Handshake for Http1 {
    type Sender = Sender;

    async fn handshake<T>(io: T) -> Result<Sender, String>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, connection) = http1::handshake(io).await.map_err(|e| with_causes(&e))?;
        tokio::task::spawn_local(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!("an upstream HTTP/1.1 connection ended: {}", with_causes(&e));
            }
        });
        Ok(sender)
    }
}

/// The request line's target in origin form (`/path?query`), as an HTTP/1.1 request to an
/// origin server has it; the authority is in `Host`.
fn origin_form(mut request: http::Request<Body>) -> http::Request<Body> {
    let mut parts = std::mem::take(request.uri_mut()).into_parts();
    parts.scheme = None;
    parts.authority = None;
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

/// Envoy's reset for an exchange that failed on an open connection: a protocol error for
/// an answer that is not HTTP, a termination for the rest.
fn failed(error: &hyper::Error) -> Reset {
    Reset {
        message: with_causes(error),
        reason: if error.is_parse() {
            PROTOCOL_ERROR
        } else {
            TERMINATED
        },
    }
}
