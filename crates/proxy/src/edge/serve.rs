//! Serving one client connection: HTTP/1.1 by hyper, each request handed to the plugin chain
//! of the configuration generation current when it arrives.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::arrival::Arrival;
use super::connection::Connection;
use crate::chain;
use crate::worker::serving::Worker;

/// The generation a worker serves now; a reload replaces it.
pub(crate) type Current = Rc<RefCell<Rc<Worker>>>;

/// Serves the connection `stream` from `remote` in a task of its own.
pub(crate) fn spawn_connection(
    stream: tokio::net::TcpStream,
    remote: std::net::SocketAddr,
    current: Current,
) {
    static CONNECTIONS: AtomicU64 = AtomicU64::new(1);
    let _ = stream.set_nodelay(true);
    let connection = Connection {
        id: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
        remote,
        local: stream.local_addr().unwrap_or(remote),
    };
    tokio::task::spawn_local(async move {
        let service = service_fn(move |request| {
            // Each request takes the generation current when it arrives.
            let worker = current.borrow().clone();
            let arrival = Arrival::new(request, connection);
            async move { Ok::<_, std::convert::Infallible>(chain::handle(worker, arrival).await) }
        });
        if let Err(e) = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await
        {
            tracing::debug!("connection from {remote}: {e}");
        }
    });
}
