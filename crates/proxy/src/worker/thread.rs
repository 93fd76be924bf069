//! A worker thread: a current-thread tokio runtime that accepts on the shared listening
//! sockets (a task per listener, held to the per-worker connection limit), serves each
//! connection, and takes new configuration generations until it is told to stop; then it
//! drains its connections.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::serving::Worker;
use crate::control::generation::Generation;
use crate::control::rollout::{Ack, Handover};
use crate::edge::listener::accept;
use crate::edge::open::OpenConnections;
use crate::edge::serve::{spawn_connection, Accepted, Current};
use crate::error::GatewayError;
use crate::metrics::GatewayMetrics;

/// What a worker thread starts with.
pub(crate) struct WorkerSetup {
    /// The listening sockets, in the configuration's `listeners` order.
    pub(crate) listeners: Vec<std::net::TcpListener>,
    pub(crate) generation: Arc<Generation>,
    pub(crate) metrics: Arc<GatewayMetrics>,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) handovers: mpsc::UnboundedReceiver<Handover>,
    /// Told once the worker serves, or why it cannot.
    pub(crate) ready: Ack,
}

/// Runs a worker on the current thread until `stop` changes.
pub(crate) fn run(setup: WorkerSetup) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(source) => return cannot_start(&setup.ready, source),
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, accept_and_serve(setup));
}

async fn accept_and_serve(mut setup: WorkerSetup) {
    let mut listeners = Vec::new();
    for listener in std::mem::take(&mut setup.listeners) {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listeners.push(listener),
            Err(source) => return cannot_start(&setup.ready, source),
        }
    }
    let current = match Worker::build(&setup.generation, &setup.metrics) {
        Ok(worker) => Rc::new(RefCell::new(worker)),
        Err(e) => {
            let _ = setup.ready.send(Err(e.into()));
            return;
        }
    };
    let open = OpenConnections::new(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        let accepting = accept_on(listener, index, current.clone(), open.clone());
        tokio::task::spawn_local(accepting);
    }
    let _ = setup.ready.send(Ok(()));
    loop {
        tokio::select! {
            Some((generation, ack)) = setup.handovers.recv() => {
                let built = Worker::build(&generation, &setup.metrics);
                let _ = ack.send(built.map(|worker| {
                    let before = current.replace(worker);
                    close_changed_listeners(&before, &current.borrow(), &open);
                }).map_err(GatewayError::from));
            },
            _ = setup.stop.changed() => break,
        }
    }
    let drain_timeout = current.borrow().config.edge.drain_timeout;
    open.drain(drain_timeout).await;
}

/// Accepts on listener `index` until the worker drains, while the worker has room for
/// another connection.
async fn accept_on(
    listener: tokio::net::TcpListener,
    index: usize,
    current: Current,
    open: Rc<OpenConnections>,
) {
    let mut drain = open.stopping();
    loop {
        let max = current.borrow().config.edge.max_connections_per_worker;
        tokio::select! {
            _ = open.room(max) => {}
            _ = drain.changed() => return,
        }
        tokio::select! {
            (stream, remote) = accept(&listener) => {
                let accepted = Accepted { stream, remote, listener: index };
                spawn_connection(accepted, current.clone(), open.open(index));
            }
            _ = drain.changed() => return,
        }
    }
}

/// Closes the connections of each listener whose TLS settings or certificates `after`
/// changes, so that their clients reconnect to the new ones.
fn close_changed_listeners(before: &Worker, after: &Worker, open: &OpenConnections) {
    for index in 0..after.config.listeners.len() {
        let fingerprint = |worker: &Worker| worker.listener_tls(index).map(|t| t.fingerprint);
        if fingerprint(before) != fingerprint(after) {
            open.close_listener(index);
        }
    }
}

fn cannot_start(ready: &Ack, source: std::io::Error) {
    let _ = ready.send(Err(GatewayError::Thread {
        thread: "worker",
        source,
    }));
}
