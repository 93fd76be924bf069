//! A worker's open client connections: how many there are (for the per-worker limit), the
//! drain on shutdown, and the close of one listener's connections when its TLS settings
//! change (each connection finishes what is in flight, then closes). A connection whose
//! request became a tunnel (a WebSocket) counts open until the tunnel ends too; a drain lets
//! tunnels run until its deadline, then tells them to close, as Envoy does.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// How long tunnels told to close at a drain's deadline have to end (and log) before the
/// worker stops under them.
const TUNNELS_CLOSE: Duration = Duration::from_millis(500);

/// The connections a worker has open.
pub(crate) struct OpenConnections {
    count: Cell<usize>,
    closed: Notify,
    /// Turns true when the worker stops: listeners stop accepting.
    stopping: watch::Sender<bool>,
    /// Per listener: a change tells its connections to close.
    closing: Vec<watch::Sender<()>>,
    /// Turns true when a drain's deadline passed: tunnels close.
    expired: watch::Sender<bool>,
}

/// One open connection; dropping it (and every [`Hold`] on it) counts it closed.
pub(crate) struct Opened {
    counted: Rc<Counted>,
    /// Changes when the connection should close: the worker drains, or its listener's TLS
    /// settings changed.
    pub(crate) close: watch::Receiver<()>,
}

/// Counts a connection open while it lives.
struct Counted(Rc<OpenConnections>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.count.set(self.0.count.get().saturating_sub(1));
        self.0.closed.notify_waiters();
    }
}

/// Keeps a connection counted open after hyper let it go (a tunnel on it), and says when a
/// drain's deadline passed.
#[derive(Clone)]
pub(crate) struct Hold {
    _counted: Rc<Counted>,
    expired: watch::Receiver<bool>,
}

impl Opened {
    /// A hold on this connection, for a tunnel.
    pub(crate) fn hold(&self) -> Hold {
        Hold {
            _counted: self.counted.clone(),
            expired: self.counted.0.expired.subscribe(),
        }
    }
}

impl Hold {
    /// Returns once a drain's deadline passed (never, while the worker serves).
    pub(crate) async fn drain_expired(&mut self) {
        if self.expired.wait_for(|expired| *expired).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl OpenConnections {
    /// No connections yet, on `listeners` listeners.
    pub(crate) fn new(listeners: usize) -> Rc<OpenConnections> {
        Rc::new(OpenConnections {
            count: Cell::new(0),
            closed: Notify::new(),
            stopping: watch::channel(false).0,
            closing: (0..listeners).map(|_| watch::channel(()).0).collect(),
            expired: watch::channel(false).0,
        })
    }

    /// Counts a new connection on listener `listener` open.
    pub(crate) fn open(self: &Rc<Self>, listener: usize) -> Opened {
        self.count.set(self.count.get() + 1);
        let close = match self.closing.get(listener) {
            Some(closing) => closing.subscribe(),
            None => watch::channel(()).1,
        };
        Opened {
            counted: Rc::new(Counted(self.clone())),
            close,
        }
    }

    /// A watch that turns true when the worker stops.
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Tells the connections of listener `listener` to finish and close.
    pub(crate) fn close_listener(&self, listener: usize) {
        if let Some(closing) = self.closing.get(listener) {
            closing.send_replace(());
        }
    }

    /// Returns once fewer than `max` connections are open (at once without a limit).
    pub(crate) async fn room(&self, max: Option<usize>) {
        let Some(max) = max else { return };
        loop {
            let closed = self.closed.notified();
            if self.count.get() < max {
                return;
            }
            closed.await;
        }
    }

    /// Tells every connection to finish and close, and waits until all have, at most
    /// `deadline`; then tells tunnels to close and gives them a moment to log their end.
    pub(crate) async fn drain(&self, deadline: Duration) {
        self.stopping.send_replace(true);
        for closing in &self.closing {
            closing.send_replace(());
        }
        if tokio::time::timeout(deadline, self.all_closed())
            .await
            .is_err()
        {
            tracing::warn!(
                "{} client connections still open after the {} ms drain; closing them",
                self.count.get(),
                deadline.as_millis()
            );
            self.expired.send_replace(true);
            let _ = tokio::time::timeout(TUNNELS_CLOSE, self.all_closed()).await;
        }
    }

    async fn all_closed(&self) {
        loop {
            let closed = self.closed.notified();
            if self.count.get() == 0 {
                return;
            }
            closed.await;
        }
    }
}
