//! A single-threaded executor for plugin tasks, driven by the host's callbacks, and the
//! bookkeeping that pauses a request while its callouts and tasks run and resumes it after.
//!
//! A task spawned with [`HttpContext::spawn`] is polled at once (so the callouts it starts
//! leave during the current phase), then again whenever a callout it awaits is answered.
//! While a request has unfinished tasks or callbacks, the phase that started them stops;
//! when the last one finishes, the SDK resumes the request, unless the plugin answered it
//! locally or resumed it itself. A task that ends in `Err` fails its request with a 500.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use wasmgate_abi::StreamType;

use crate::context::HttpContext;
use crate::error::Result;
use crate::{context, raw, state};

type BoxedTask = Pin<Box<dyn Future<Output = Result<()>>>>;

struct Slot {
    owner: u32,
    future: Option<BoxedTask>,
}

#[derive(Default)]
struct Executor {
    tasks: RefCell<BTreeMap<u64, Slot>>,
    ready: RefCell<VecDeque<u64>>,
    next: Cell<u64>,
}

thread_local! {
    static EXECUTOR: Executor = Executor::default();
}

fn waker(id: u64) -> Waker {
    fn clone(data: *const ()) -> RawWaker {
        RawWaker::new(data, &VTABLE)
    }
    fn wake(data: *const ()) {
        let id = data as usize as u64;
        EXECUTOR.with(|e| e.ready.borrow_mut().push_back(id));
    }
    fn drop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);
    // SAFETY: the data is a plain integer and the vtable functions never dereference it.
    // Plugin VMs are single-threaded, so the waker is only ever used on this thread.
    unsafe { Waker::from_raw(RawWaker::new(id as usize as *const (), &VTABLE)) }
}

/// Starts a task owned by a request (`owner` = its context id) or by the plugin (the root
/// context id).
pub(crate) fn spawn(owner: u32, future: impl Future<Output = Result<()>> + 'static) {
    let id = EXECUTOR.with(|e| {
        let id = e.next.get() + 1;
        e.next.set(id);
        e.tasks.borrow_mut().insert(
            id,
            Slot {
                owner,
                future: Some(Box::pin(future)),
            },
        );
        id
    });
    work_started(owner);
    poll(id);
    run_ready();
}

/// Polls every task that was woken.
pub(crate) fn run_ready() {
    loop {
        let next = EXECUTOR.with(|e| e.ready.borrow_mut().pop_front());
        match next {
            Some(id) => poll(id),
            None => break,
        }
    }
}

/// Drops the tasks of a request that ended.
pub(crate) fn cancel_owner(owner: u32) {
    let dropped: Vec<Slot> = EXECUTOR.with(|e| {
        let mut tasks = e.tasks.borrow_mut();
        let ids: Vec<u64> = tasks
            .iter()
            .filter(|(_, s)| s.owner == owner)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().filter_map(|id| tasks.remove(&id)).collect()
    });
    // Futures are dropped outside the borrow: their destructors may touch the executor.
    drop(dropped);
}

fn poll(id: u64) {
    let taken = EXECUTOR.with(|e| {
        let mut tasks = e.tasks.borrow_mut();
        let slot = tasks.get_mut(&id)?;
        Some((slot.owner, slot.future.take()?))
    });
    let Some((owner, mut future)) = taken else {
        return;
    };
    if owner != state::root_id() && context::live(owner).is_none() {
        EXECUTOR.with(|e| e.tasks.borrow_mut().remove(&id));
        return;
    }
    if state::switch_to(owner).is_err() {
        EXECUTOR.with(|e| e.tasks.borrow_mut().remove(&id));
        return;
    }
    let waker = waker(id);
    let mut cx = Context::from_waker(&waker);
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(result) => {
            EXECUTOR.with(|e| e.tasks.borrow_mut().remove(&id));
            drop(future);
            work_finished(owner, result, "task");
        }
        Poll::Pending => EXECUTOR.with(|e| {
            if let Some(slot) = e.tasks.borrow_mut().get_mut(&id) {
                slot.future = Some(future);
            }
        }),
    }
}

/// A request starts waiting for a callout or task.
pub(crate) fn work_started(owner: u32) {
    if let Some(ctx) = context::live(owner) {
        ctx.data().pending += 1;
    }
}

/// A callout callback or task of `owner` finished.
pub(crate) fn work_finished(owner: u32, result: Result<()>, what: &str) {
    let Some(ctx) = context::live(owner) else {
        if let Err(e) = result {
            crate::error!("{what} failed: {e}");
        }
        return;
    };
    {
        let mut d = ctx.data();
        d.pending = d.pending.saturating_sub(1);
    }
    if let Err(e) = result {
        fail(&ctx, what, &e);
    }
    maybe_resume(&ctx);
}

/// Logs a plugin error and fails the request with a 500 (unless it was answered already).
pub(crate) fn fail(ctx: &HttpContext, what: &str, e: &dyn std::fmt::Display) {
    crate::error!("{what} failed: {e}");
    if !ctx.replied() {
        let _: Result<()> =
            ctx.send_response_with_detail(500, "wasmgate_sdk.plugin_error", &[], b"");
    }
}

/// Resumes a request the SDK paused, once nothing is pending.
pub(crate) fn maybe_resume(ctx: &HttpContext) {
    let direction = {
        let mut d = ctx.data();
        if d.pending > 0 {
            return;
        }
        let direction = d.paused.take();
        let skip = d.replied || d.resumed;
        d.resumed = false;
        if skip {
            return;
        }
        direction
    };
    if let Some(direction) = direction {
        if ctx.enter().is_ok() {
            if let Err(e) = raw::continue_stream(direction) {
                crate::warn!("cannot resume the request: {e}");
            }
        }
    }
}

/// The stream direction a phase belongs to.
pub(crate) fn direction(request: bool) -> StreamType {
    if request {
        StreamType::HttpRequest
    } else {
        StreamType::HttpResponse
    }
}

impl HttpContext {
    /// Runs an async task for this request. The task gets its own handle to the request;
    /// the phase that spawned it stops until it finishes, then the request resumes (unless
    /// the task replied locally). An `Err` from the task fails the request with 500.
    ///
    /// ```no_run
    /// # use wasmgate_sdk::prelude::*;
    /// # fn handler(ctx: &HttpContext, client: HttpClient) -> HeaderAction {
    /// ctx.spawn(move |ctx| async move {
    ///     let reply = client.get("/token").await?;
    ///     ctx.add_request_header("x-token", reply.body)?;
    ///     Ok(())
    /// });
    /// HeaderAction::StopIteration
    /// # }
    /// ```
    pub fn spawn<F, Fut>(&self, task: F)
    where
        F: FnOnce(HttpContext) -> Fut,
        Fut: Future<Output = Result<()>> + 'static,
    {
        spawn(self.id(), task(self.clone()));
    }

    /// How many callouts and tasks this request waits for.
    pub fn pending(&self) -> u32 {
        self.data().pending
    }
}

/// Runs an async task that belongs to the plugin rather than a request (for ticks and
/// background work). An `Err` is logged.
pub fn spawn_local(task: impl Future<Output = Result<()>> + 'static) {
    spawn(state::root_id(), task);
}
