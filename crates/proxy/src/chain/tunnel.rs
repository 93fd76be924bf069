//! Upgrades on the walk, as Envoy's router with `upgrade_configs`: an upgrade the route (or,
//! without a route entry, the gateway) does not let through is answered `403` before any
//! plugin runs, as Envoy's connection manager does; one let through runs the plugins'
//! request-header phase like any request and goes upstream with its `upgrade` headers; when
//! the upstream answers `101` (through the plugins' response-header phase), the client's and
//! the upstream's connections are spliced until either side closes, or a drain's deadline.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::reply::reply;
use super::response::Answer;
use super::walk::Walk;
use crate::config::upgrade_allowed;
use crate::edge::upgrade::Upgrade;

/// Each direction's copy buffer: a read takes what a large message has ready at once.
const BUFFER: usize = 64 * 1024;

/// The bytes a tunnel moved.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Moved {
    /// From the client to the upstream.
    pub(crate) received: u64,
    /// From the upstream to the client.
    pub(crate) sent: u64,
}

impl Walk {
    /// The `403` of an upgrade the matched route does not let through, as Envoy answers it
    /// (`upgrade_failed`, an empty body); `None` when there is no upgrade or it may go on.
    pub(crate) async fn refuse_upgrade(&mut self) -> Option<Answer> {
        let protocol = self.upgrade.as_deref()?;
        let config = &self.worker.config;
        let route = self.route.as_ref().map_or(&[][..], |r| &r.upgrades[..]);
        if upgrade_allowed(&config.upgrades, route, protocol) {
            return None;
        }
        tracing::debug!(request_id = %self.streams.request_id(), "upgrade to {protocol} not allowed on this route");
        Some(
            self.local_reply(reply(http::StatusCode::FORBIDDEN, ""), 0)
                .await,
        )
    }
}

/// Splices the client's side of `upgrade` and the upstream's `upstream` until both ends
/// closed (each side's end is passed on as a half close), one failed, or a drain's deadline
/// passed. Returns the bytes moved, or why the tunnel could not open.
pub(crate) async fn splice(upgrade: Upgrade, upstream: OnUpgrade) -> Result<Moved, String> {
    let Upgrade {
        client, mut hold, ..
    } = upgrade;
    let client = client
        .await
        .map_err(|e| format!("the client's side of the tunnel: {e}"))?;
    let upstream = upstream
        .await
        .map_err(|e| format!("the upstream's side of the tunnel: {e}"))?;
    let received = Rc::new(Cell::new(0));
    let sent = Rc::new(Cell::new(0));
    let mut client = Counting::new(TokioIo::new(client), received.clone());
    let mut upstream = Counting::new(TokioIo::new(upstream), sent.clone());
    tokio::select! {
        result = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, BUFFER, BUFFER) => {
            if let Err(e) = result {
                tracing::debug!("tunnel ended: {e}");
            }
        }
        _ = hold.drain_expired() => tracing::debug!("tunnel closed at the drain's deadline"),
    }
    Ok(Moved {
        received: received.get(),
        sent: sent.get(),
    })
}

/// A stream that counts the bytes read from it.
struct Counting<S> {
    inner: S,
    read: Rc<Cell<u64>>,
}

impl<S> Counting<S> {
    fn new(inner: S, read: Rc<Cell<u64>>) -> Counting<S> {
        Counting { inner, read }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        self.read.set(self.read.get() + read);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
