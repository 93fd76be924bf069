//! Serving one client connection: the TLS handshake on a TLS listener, then HTTP/1.1 or
//! HTTP/2 by hyper (chosen by ALPN, or on a plain listener by the client's first bytes: h2c
//! with prior knowledge), held to the edge limits; each request handed to the plugin chain
//! of the configuration generation current when it arrives. On drain, idle timeout or a
//! change of its listener's TLS settings the connection shuts down gracefully: GOAWAY on
//! HTTP/2, and requests in flight finish. A request that asks for an upgrade (a WebSocket)
//! carries hyper's promise of the client's side of the tunnel into the chain.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::time::Instant;

use super::activity::{Activity, Watched};
use super::arrival::Arrival;
use super::connection::Connection;
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
    /// Either, by the client's first bytes (a plain listener).
    Either,
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
    let mut connection = Connection {
        id: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
        remote,
        local: stream.local_addr().unwrap_or(remote),
        tls: None,
        protocol: "HTTP/1.1",
    };
    let activity = Activity::new();
    let stream = Watched::new(stream, activity.clone());
    let Some(tls) = tls else {
        let io = TokioIo::new(stream);
        return run(
            io,
            Versions::Either,
            connection,
            &limits,
            current,
            activity,
            opened,
        )
        .await;
    };
    let Some(stream) = handshake(&tls, stream, remote, &limits).await else {
        return;
    };
    let session = stream.get_ref().1;
    connection.tls = Some(Arc::new(tls.facts(session)));
    let versions = if negotiated_h2(session) {
        Versions::Http2
    } else {
        Versions::Http1
    };
    let io = TokioIo::new(stream);
    run(io, versions, connection, &limits, current, activity, opened).await;
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
    let limit = limits
        .request_headers_timeout
        .or(limits.idle_timeout)
        .unwrap_or(std::time::Duration::from_secs(3600));
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
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

/// hyper's server for one connection, held to `limits`.
fn builder(limits: &EdgeLimits, versions: Versions) -> auto::Builder<LocalExec> {
    let mut builder = auto::Builder::new(LocalExec);
    {
        let mut http1 = builder.http1();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.request_headers_timeout)
            .max_buf_size(limits.max_request_headers_bytes.max(8192));
        // hyper's default (and Envoy's) is 100; setting it moves the parse off the stack.
        if limits.max_request_headers_count != 100 {
            http1.max_headers(limits.max_request_headers_count);
        }
    }
    {
        let mut http2 = builder.http2();
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.http2_max_concurrent_streams)
            .max_pending_accept_reset_streams(limits.http2_max_pending_reset_streams)
            .max_header_list_size(
                u32::try_from(limits.max_request_headers_bytes).unwrap_or(u32::MAX),
            );
        if limits.http2_allow_connect {
            http2.enable_connect_protocol();
        }
    }
    match versions {
        Versions::Either => builder,
        Versions::Http1 => builder.http1_only(),
        Versions::Http2 => builder.http2_only(),
    }
}

/// Serves HTTP on `io` until the client closes, the connection turns idle, or the worker
/// drains.
async fn run<I>(
    io: I,
    versions: Versions,
    connection: Connection,
    limits: &EdgeLimits,
    current: Current,
    activity: Arc<Activity>,
    mut opened: Opened,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let remote = connection.remote;
    let requests = activity.clone();
    let hold = opened.hold();
    let service = service_fn(move |mut request| {
        // Each request takes the generation current when it arrives.
        let worker = current.borrow().clone();
        let upgrade = upgrade::take(&mut request, || hold.clone());
        let arrival = Arrival::new(request, connection.clone(), upgrade);
        let in_flight = requests.request();
        async move {
            let response = chain::handle(worker, arrival).await;
            drop(in_flight);
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let builder = builder(limits, versions);
    let served = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(served);
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
                served.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(idle_at), if idle.is_some() && !closing => {
                if idle.is_some_and(|t| activity.is_idle(t)) {
                    tracing::debug!("connection from {remote} idle; closing it");
                    closing = true;
                    served.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400 * 365)
}
