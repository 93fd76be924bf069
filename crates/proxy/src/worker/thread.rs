//! A worker thread: a current-thread tokio runtime that accepts on the shared listening
//! socket, serves each connection, and takes new configuration generations until it is told
//! to stop.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::serving::Worker;
use crate::control::generation::Generation;
use crate::control::rollout::{Ack, Handover};
use crate::edge::listener::accept;
use crate::edge::serve::spawn_connection;
use crate::error::GatewayError;
use crate::metrics::GatewayMetrics;

/// What a worker thread starts with.
pub(crate) struct WorkerSetup {
    pub(crate) listener: std::net::TcpListener,
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
    let listener = match tokio::net::TcpListener::from_std(setup.listener) {
        Ok(listener) => listener,
        Err(source) => return cannot_start(&setup.ready, source),
    };
    let current = match Worker::build(&setup.generation, &setup.metrics) {
        Ok(worker) => Rc::new(RefCell::new(worker)),
        Err(e) => {
            let _ = setup.ready.send(Err(e.into()));
            return;
        }
    };
    let _ = setup.ready.send(Ok(()));
    loop {
        tokio::select! {
            (stream, remote) = accept(&listener) => spawn_connection(stream, remote, current.clone()),
            Some((generation, ack)) = setup.handovers.recv() => {
                let built = Worker::build(&generation, &setup.metrics);
                let _ = ack.send(built.map(|worker| {
                    *current.borrow_mut() = worker;
                }).map_err(GatewayError::from));
            },
            _ = setup.stop.changed() => break,
        }
    }
}

fn cannot_start(ready: &Ack, source: std::io::Error) {
    let _ = ready.send(Err(GatewayError::Thread {
        thread: "worker",
        source,
    }));
}
