//! How long a guest call may run, and how it shares its thread: every call runs on a fiber
//! (wasmtime's `call_async`), and at each epoch tick the [`CallClock`] either ends it (its
//! time limit is spent: a trap, [`Trap::Interrupt`]) or lets the embedder's executor run
//! other work before the guest goes on ([`Yielder`]). The limit is wall time, counted in the
//! ticks of the runtime's epoch ticker, so it includes the time a call spent yielded. An embedder without an executor (the
//! testkit, `wasmgate test`, benches) gives no yielder and drives calls with [`block_on`].

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use wasmtime::{Store, Trap, UpdateDeadline};

/// Where a store's data keeps its clock.
pub(crate) type ClockOf<T> = fn(&mut T) -> &mut CallClock;

/// Makes the future a guest call waits on at each epoch tick, so that the executor runs other
/// tasks meanwhile (with tokio: `|| Box::pin(tokio::task::yield_now())`).
pub type Yielder = fn() -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// The time limit of the guest call under way, in epoch ticks, and whether it yields.
pub(crate) struct CallClock {
    /// The ticks the runtime's epoch ticker made so far.
    epochs: Arc<AtomicU64>,
    /// The tick at which the call under way is interrupted.
    deadline: u64,
    /// Where the call yields at each tick; `None`: it runs on until done or interrupted.
    yielder: Option<Yielder>,
}

impl CallClock {
    pub(crate) fn new(epochs: Arc<AtomicU64>, yielder: Option<Yielder>) -> Self {
        CallClock {
            epochs,
            deadline: 0,
            yielder,
        }
    }

    /// Starts a call that may run for `ticks` epoch ticks (its store's deadline is the next
    /// tick: every tick comes to the callback [`CallClock::install`] sets).
    pub(crate) fn start<T>(store: &mut Store<T>, clock: ClockOf<T>, ticks: u64) {
        let clock = clock(store.data_mut());
        clock.deadline = clock.epochs.load(Ordering::Relaxed) + ticks;
        store.set_epoch_deadline(1);
    }

    /// Takes the yielder away (start-up runs without yields) and hands it back.
    pub(crate) fn swap_yielder(&mut self, yielder: Option<Yielder>) -> Option<Yielder> {
        std::mem::replace(&mut self.yielder, yielder)
    }

    /// Installs the tick callback on `store`.
    pub(crate) fn install<T: 'static>(store: &mut Store<T>, clock: ClockOf<T>) {
        store.epoch_deadline_callback(move |mut store| {
            let clock = clock(store.data_mut());
            if clock.epochs.load(Ordering::Relaxed) >= clock.deadline {
                return Err(Trap::Interrupt.into());
            }
            Ok(match clock.yielder {
                Some(yielder) => UpdateDeadline::YieldCustom(1, yielder()),
                None => UpdateDeadline::Continue(1),
            })
        });
    }
}

/// Runs a future to its end on this thread, polling it again whenever it is pending: for
/// guest calls of a VM that has no [`Yielder`], which never wait on anything else.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}
