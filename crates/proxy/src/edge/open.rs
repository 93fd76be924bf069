//! A worker's open client connections: how many there are (for the per-worker limit), the
//! drain on shutdown, and the close of one listener's connections when its TLS settings
//! change (each connection finishes what is in flight, then closes).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// The connections a worker has open.
pub(crate) struct OpenConnections {
    count: Cell<usize>,
    closed: Notify,
    /// Turns true when the worker stops: listeners stop accepting.
    stopping: watch::Sender<bool>,
    /// Per listener: a change tells its connections to close.
    closing: Vec<watch::Sender<()>>,
}

/// One open connection; dropping it counts it closed.
pub(crate) struct Opened {
    open: Rc<OpenConnections>,
    /// Changes when the connection should close: the worker drains, or its listener's TLS
    /// settings changed.
    pub(crate) close: watch::Receiver<()>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        self.open.count.set(self.open.count.get().saturating_sub(1));
        self.open.closed.notify_waiters();
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
            open: self.clone(),
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
    /// `deadline`.
    pub(crate) async fn drain(&self, deadline: Duration) {
        self.stopping.send_replace(true);
        for closing in &self.closing {
            closing.send_replace(());
        }
        let all_closed = async {
            loop {
                let closed = self.closed.notified();
                if self.count.get() == 0 {
                    return;
                }
                closed.await;
            }
        };
        if tokio::time::timeout(deadline, all_closed).await.is_err() {
            tracing::warn!(
                "{} client connections still open after the {} ms drain; closing them",
                self.count.get(),
                deadline.as_millis()
            );
        }
    }
}
