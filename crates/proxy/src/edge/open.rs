//! A worker's open client connections: how many there are (for the per-worker limit), and
//! the drain on shutdown (each connection finishes what is in flight, then closes).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// The connections a worker has open.
pub(crate) struct OpenConnections {
    count: Cell<usize>,
    closed: Notify,
    drain: watch::Sender<bool>,
}

/// One open connection; dropping it counts it closed.
pub(crate) struct Opened {
    open: Rc<OpenConnections>,
    /// Turns true when the worker drains.
    pub(crate) drain: watch::Receiver<bool>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        self.open.count.set(self.open.count.get().saturating_sub(1));
        self.open.closed.notify_waiters();
    }
}

impl OpenConnections {
    pub(crate) fn new() -> Rc<OpenConnections> {
        Rc::new(OpenConnections {
            count: Cell::new(0),
            closed: Notify::new(),
            drain: watch::channel(false).0,
        })
    }

    /// Counts a new connection open.
    pub(crate) fn open(self: &Rc<Self>) -> Opened {
        self.count.set(self.count.get() + 1);
        Opened {
            open: self.clone(),
            drain: self.drain.subscribe(),
        }
    }

    /// A watch that turns true when the worker drains.
    pub(crate) fn drain_signal(&self) -> watch::Receiver<bool> {
        self.drain.subscribe()
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
        let _ = self.drain.send(true);
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
