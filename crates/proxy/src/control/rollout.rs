//! [`Control`]: how generations reach the workers: a channel to each, the generation they
//! serve, and the lock that takes changes one at a time (reloads, the move to optimized
//! code).

use std::sync::{mpsc, Arc, Mutex};

use tokio::sync::mpsc as async_mpsc;

use super::generation::Generation;
use crate::error::GatewayError;

/// A worker's answer: it serves the generation, or why not.
pub(crate) type Ack = mpsc::Sender<Result<(), GatewayError>>;

/// A generation handed to a worker, with where to answer.
pub(crate) type Handover = (Arc<Generation>, Ack);

/// The workers' channels and the generation they serve.
pub(crate) struct Control {
    workers: Vec<async_mpsc::UnboundedSender<Handover>>,
    current: Mutex<Arc<Generation>>,
    pub(crate) lock: Mutex<()>,
}

impl Control {
    /// Control of the workers behind `workers`, which serve `current`.
    pub(crate) fn new(
        workers: Vec<async_mpsc::UnboundedSender<Handover>>,
        current: Arc<Generation>,
    ) -> Control {
        Control {
            workers,
            current: Mutex::new(current),
            lock: Mutex::new(()),
        }
    }

    /// The generation the workers serve.
    pub(crate) fn current(&self) -> Arc<Generation> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Hands `generation` to every worker and waits until each serves it. The caller holds
    /// `lock`.
    pub(crate) fn install(&self, generation: Arc<Generation>) -> Result<(), GatewayError> {
        let (ack, acks) = mpsc::channel();
        for worker in &self.workers {
            worker
                .send((generation.clone(), ack.clone()))
                .map_err(|_| GatewayError::WorkerStopped {
                    when: "before the reload",
                })?;
        }
        drop(ack);
        await_workers(&acks, self.workers.len(), "during the reload")?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = generation;
        Ok(())
    }
}

/// Waits for `workers` answers: each worker took the generation, or says why not.
pub(crate) fn await_workers(
    acks: &mpsc::Receiver<Result<(), GatewayError>>,
    workers: usize,
    when: &'static str,
) -> Result<(), GatewayError> {
    for _ in 0..workers {
        acks.recv()
            .map_err(|_| GatewayError::WorkerStopped { when })??;
    }
    Ok(())
}
