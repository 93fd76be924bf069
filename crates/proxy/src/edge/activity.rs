//! The idle timeout's clock: a client stream that notes when bytes last moved, and the count
//! of requests in flight on its connection. A connection is idle when neither moved.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// What a connection did last, shared by its stream and its requests.
#[derive(Debug)]
pub(crate) struct Activity {
    last: Cell<Instant>,
    in_flight: Cell<usize>,
}

impl Activity {
    pub(crate) fn new() -> Rc<Activity> {
        Rc::new(Activity {
            last: Cell::new(Instant::now()),
            in_flight: Cell::new(0),
        })
    }

    fn touch(&self) {
        self.last.set(Instant::now());
    }

    /// When to look again whether the connection is idle: `timeout` after bytes last moved,
    /// or from now while a request is in flight.
    pub(crate) fn idle_at(&self, timeout: std::time::Duration) -> Instant {
        if self.in_flight.get() > 0 {
            Instant::now() + timeout
        } else {
            self.last.get() + timeout
        }
    }

    /// Whether nothing moved for `timeout` and no request is in flight.
    pub(crate) fn is_idle(&self, timeout: std::time::Duration) -> bool {
        self.in_flight.get() == 0 && self.last.get() + timeout <= Instant::now()
    }

    /// Counts a request in flight until the guard drops.
    pub(crate) fn request(self: &Rc<Self>) -> InFlight {
        self.in_flight.set(self.in_flight.get() + 1);
        InFlight(self.clone())
    }
}

/// A request in flight on a connection.
pub(crate) struct InFlight(Rc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .set(self.0.in_flight.get().saturating_sub(1));
        self.0.touch();
    }
}

/// A stream that notes its reads and writes in an [`Activity`].
pub(crate) struct Watched<S> {
    inner: S,
    activity: Rc<Activity>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S, activity: Rc<Activity>) -> Watched<S> {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
