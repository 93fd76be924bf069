//! Serving one client connection: the TLS handshake on a TLS listener, then HTTP/1.1 or
//! HTTP/2 by hyper (chosen by ALPN, or on a plain listener by the client's first bytes: h2c
//! with prior knowledge), held to the edge limits, HTTP/1.1 heads checked as Envoy checks
//! them first (`checked`; a refused one is answered here, before any plugin); each request
//! handed to the plugin chain of the configuration generation current when it arrives. On drain, idle timeout or a
//! change of its listener's TLS settings the connection shuts down gracefully: GOAWAY on
//! HTTP/2, and requests in flight finish. A request that asks for an upgrade (a WebSocket)
//! carries hyper's promise of the client's side of the tunnel into the chain.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::{service_fn, HttpService};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::time::Instant;

use super::activity::{Activity, Watched};
use super::arrival::Arrival;
use super::checked::{Checked, Refusals};
use super::connection::Connection;
use super::framing::{Refusal, Rules, Scanner};
use super::open::Opened;
use super::tls::{negotiated_h2, ServerTls};
use super::upgrade;
use crate::chain;
use crate::config::EdgeLimits;
use crate::worker::serving::Worker;

/// The generation a worker serves now; a reload replaces it.
pub(crate) type Current = Rc<RefCell<Rc<Worker>>>;

/// A connection a listener accepted.
pub(crate) struct Accepted {
    pub(crate) stream: tokio::net::TcpStream,
    pub(crate) remote: SocketAddr,
    /// The position of its listener in the configuration's `listeners`.
    pub(crate) listener: usize,
}

/// Which HTTP versions a connection may speak.
#[derive(Clone, Copy)]
enum Versions {
    Http1,
    Http2,
}

/// Runs hyper's server tasks (HTTP/2 streams) on the worker's thread: the plugin chain is
/// not `Send`.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F: std::future::Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, future: F) {
        // Boxed: an HTTP/2 stream's future is kilobytes large, and the task would copy it.
        tokio::task::spawn_local(Box::pin(future));
    }
}

/// Serves `accepted` in a task of its own; `opened` counts it open until it closes.
pub(crate) fn spawn_connection(accepted: Accepted, current: Current, opened: Opened) {
    tokio::task::spawn_local(serve(accepted, current, opened));
}

async fn serve(accepted: Accepted, current: Current, opened: Opened) {
    static CONNECTIONS: AtomicU64 = AtomicU64::new(1);
    let Accepted {
        stream,
        remote,
        listener,
    } = accepted;
    let _ = stream.set_nodelay(true);
    let (limits, tls) = {
        let worker = current.borrow();
        (worker.config.edge.clone(), worker.listener_tls(listener))
    };
    let connection = Connection {
        id: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
        remote,
        local: stream.local_addr().unwrap_or(remote),
        tls: None,
        protocol: "HTTP/1.1",
    };
    let activity = Activity::new();
    let stream = Watched::new(stream, activity.clone());
    let mut served = Served {
        connection,
        refusals: Arc::new(Refusals::default()),
        activity,
    };
    let Some(tls) = tls else {
        let scanner = Scanner::new(rules(&limits), true);
        let mut stream = Checked::new(stream, scanner, served.refusals.clone());
        let versions =
            match tokio::time::timeout(first_bytes_limit(&limits), stream.speaks_h2c()).await {
                Ok(Ok(true)) => Versions::Http2,
                Ok(Ok(false)) => Versions::Http1,
                Ok(Err(e)) => {
                    tracing::debug!("connection from {remote}: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!("connection from {remote} sent no request in time; closing it");
                    return;
                }
            };
        return run(
            TokioIo::new(stream),
            versions,
            served,
            &limits,
            current,
            opened,
        )
        .await;
    };
    let Some(stream) = handshake(&tls, stream, remote, &limits).await else {
        return;
    };
    let session = stream.get_ref().1;
    served.connection.tls = Some(Arc::new(tls.facts(session)));
    let (versions, scanner) = if negotiated_h2(session) {
        (Versions::Http2, Scanner::opaque())
    } else {
        (Versions::Http1, Scanner::new(rules(&limits), false))
    };
    let io = TokioIo::new(Checked::new(stream, scanner, served.refusals.clone()));
    run(io, versions, served, &limits, current, opened).await;
}

/// What the connection's HTTP/1.1 heads are held to.
fn rules(limits: &EdgeLimits) -> Rules {
    Rules {
        max_head: max_head(limits),
        http10: limits.accept_http_10,
    }
}

/// The largest request head the connection takes (hyper's buffer limit too).
fn max_head(limits: &EdgeLimits) -> usize {
    limits.max_request_headers_bytes.max(8192)
}

/// What the requests of one connection share.
struct Served {
    connection: Connection,
    /// The request whose head was refused, if any.
    refusals: Arc<Refusals>,
    activity: Arc<Activity>,
}

/// Envoy's answer to a refused head; the connection closes after it.
fn refused(refusal: Refusal, remote: SocketAddr) -> http::Response<crate::body::Body> {
    let status = refusal.status();
    tracing::debug!("refused a request from {remote}: {status}");
    let reason = status.canonical_reason().unwrap_or_default();
    let mut response = http::Response::new(crate::body::full(reason));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    headers.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

/// The TLS handshake, within the request headers timeout; a failure is logged (debug, as
/// Envoy does) and closes the connection.
async fn handshake<S>(
    tls: &ServerTls,
    stream: S,
    remote: SocketAddr,
    limits: &EdgeLimits,
) -> Option<tokio_rustls::server::TlsStream<S>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    match tokio::time::timeout(first_bytes_limit(limits), acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!("TLS handshake with {remote} failed: {e}");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake with {remote} timed out");
            None
        }
    }
}

/// How long a new connection may take to say what it speaks (its TLS handshake, or its
/// first bytes on a plain listener): the request headers timeout.
fn first_bytes_limit(limits: &EdgeLimits) -> std::time::Duration {
    limits
        .request_headers_timeout
        .or(limits.idle_timeout)
        .unwrap_or(std::time::Duration::from_secs(3600))
}

/// hyper's HTTP/1.1 server for one connection, held to `limits`.
fn http1_server(limits: &EdgeLimits) -> http1::Builder {
    let mut http1 = http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_headers_timeout)
        .max_buf_size(max_head(limits));
    // hyper's default (and Envoy's) is 100; setting it moves the parse off the stack.
    if limits.max_request_headers_count != 100 {
        http1.max_headers(limits.max_request_headers_count);
    }
    http1
}

/// hyper's HTTP/2 server for one connection, held to `limits`.
fn http2_server(limits: &EdgeLimits) -> http2::Builder<LocalExec> {
    let mut http2 = http2::Builder::new(LocalExec);
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .max_pending_accept_reset_streams(limits.http2_max_pending_reset_streams)
        .max_header_list_size(u32::try_from(limits.max_request_headers_bytes).unwrap_or(u32::MAX));
    if limits.http2_allow_connect {
        http2.enable_connect_protocol();
    }
    http2
}

/// One connection hyper serves, HTTP/1.1 (with upgrades) or HTTP/2.
trait Serving: Future<Output = hyper::Result<()>> {
    /// Lets what is in flight finish, then closes (HTTP/2: GOAWAY first).
    fn shut_down(self: Pin<&mut Self>);
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<I, S, B> Serving for http1::UpgradeableConnection<I, S>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<BoxError>,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B> Serving for http2::Connection<I, S, LocalExec>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<BoxError>,
    LocalExec: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Serves HTTP on `io` until the client closes, the connection turns idle, or the worker
/// drains.
async fn run<I>(
    io: I,
    versions: Versions,
    served: Served,
    limits: &EdgeLimits,
    current: Current,
    mut opened: Opened,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let Served {
        connection,
        refusals,
        activity,
    } = served;
    let remote = connection.remote;
    let requests = activity.clone();
    let hold = opened.hold();
    let index = std::cell::Cell::new(0);
    let service = service_fn(move |mut request| {
        // hyper serves an HTTP/1.1 connection's requests one after the other, in order.
        let refusal = refusals.of(index.replace(index.get() + 1));
        // Each request takes the generation current when it arrives.
        let worker = current.borrow().clone();
        let upgrade = upgrade::take(&mut request, || hold.clone());
        let arrival = Arrival::new(request, connection.clone(), upgrade);
        let in_flight = requests.request();
        async move {
            let response = match refusal {
                Some(refusal) => refused(refusal, arrival.connection.remote),
                None => chain::handle(worker, arrival).await,
            };
            drop(in_flight);
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let mut served: Pin<Box<dyn Serving>> = match versions {
        Versions::Http1 => Box::pin(
            http1_server(limits)
                .serve_connection(io, service)
                .with_upgrades(),
        ),
        Versions::Http2 => Box::pin(http2_server(limits).serve_connection(io, service)),
    };
    let idle = limits.idle_timeout;
    let mut closing = false;
    loop {
        let idle_at = idle.map_or_else(far_future, |t| activity.idle_at(t));
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection from {remote}: {e}");
                }
                return;
            }
            _ = opened.close.changed(), if !closing => {
                closing = true;
                served.as_mut().shut_down();
            }
            _ = tokio::time::sleep_until(idle_at), if idle.is_some() && !closing => {
                if idle.is_some_and(|t| activity.is_idle(t)) {
                    tracing::debug!("connection from {remote} idle; closing it");
                    closing = true;
                    served.as_mut().shut_down();
                }
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400 * 365)
}
