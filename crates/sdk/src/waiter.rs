//! Who waits for a callout's answer, and how the answer reaches them: the plumbing the
//! HTTP client (`http`) and the Redis client (`redis`)
//! share between sending a call and the host's answer.
//!
//! A sent call parks a [`Waiter`] under its token until the host answers. The waiter is a
//! request's callback (run in that request's context, counted as pending work of the
//! request from sending to delivery, and skipped if the request ended meanwhile), a
//! callback of the plugin, or the slot of a [`CalloutFuture`] that a task awaits.
//! [`Waiter::deliver`] hands the answer over and then polls the tasks it woke.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::context::HttpContext;
use crate::error::Result;
use crate::outcome::IntoOutcome;
use crate::{context, task};

type RequestCallback<T> = Box<dyn FnOnce(&HttpContext, Result<T>) -> Result<()>>;
type PluginCallback<T> = Box<dyn FnOnce(Result<T>)>;

/// Where an awaited answer is left for its future.
pub(crate) struct FutureSlot<T> {
    result: Option<Result<T>>,
    waker: Option<Waker>,
}

/// Whoever waits for the answer (of type `T`) to one sent call.
pub(crate) enum Waiter<T> {
    /// A request's callback: the request's context id and the callback.
    Request(u32, RequestCallback<T>),
    /// A callback of the plugin, not of a request.
    Plugin(PluginCallback<T>),
    /// An awaiting [`CalloutFuture`].
    Future(Rc<RefCell<FutureSlot<T>>>),
}

impl<T: 'static> Waiter<T> {
    /// A callback of the request `ctx`, which from now on waits for it (its phase stops
    /// until the answer is delivered). Make it only once the call was sent.
    pub(crate) fn for_request<R: IntoOutcome<()>>(
        ctx: &HttpContext,
        callback: impl FnOnce(&HttpContext, Result<T>) -> R + 'static,
    ) -> Self {
        task::work_started(ctx.id());
        Waiter::Request(
            ctx.id(),
            Box::new(move |ctx, reply| callback(ctx, reply).into_outcome()),
        )
    }

    /// A callback of the plugin (no request pauses for it).
    pub(crate) fn for_plugin(callback: impl FnOnce(Result<T>) + 'static) -> Self {
        Waiter::Plugin(Box::new(callback))
    }
}

impl<T> Waiter<T> {
    /// Hands `reply` over: runs the request's callback in its context (`what` names it in
    /// the log line of a failure), or the plugin's callback, or fills the future and wakes
    /// its task; then polls the woken tasks.
    pub(crate) fn deliver(self, reply: Result<T>, what: &str) {
        match self {
            Waiter::Request(owner, callback) => {
                // A request that ended in the meantime gets no callback.
                if let Some(ctx) = context::live(owner) {
                    let result = match ctx.enter() {
                        Ok(()) => callback(&ctx, reply),
                        Err(e) => Err(e),
                    };
                    task::work_finished(owner, result, what);
                }
            }
            Waiter::Plugin(callback) => callback(reply),
            Waiter::Future(slot) => {
                let waker = {
                    let mut slot = slot.borrow_mut();
                    slot.result = Some(reply);
                    slot.waker.take()
                };
                if let Some(w) = waker {
                    w.wake();
                }
            }
        }
        task::run_ready();
    }
}

/// The answer to an awaited callout: `HttpFuture` for an `HttpRequest`, `RedisFuture` for
/// a `RedisRequest`. The call is sent when the future is made, not
/// when it is first polled; it resolves with the answer or the error.
pub struct CalloutFuture<T> {
    slot: Rc<RefCell<FutureSlot<T>>>,
}

impl<T> CalloutFuture<T> {
    /// The future of a call: `sent` is its token, or why it could not be sent (the future
    /// then resolves with that error at once); `park` keeps the waiter under the token.
    pub(crate) fn new(sent: Result<u32>, park: impl FnOnce(u32, Waiter<T>)) -> Self {
        let slot = Rc::new(RefCell::new(FutureSlot {
            result: None,
            waker: None,
        }));
        match sent {
            Ok(token) => park(token, Waiter::Future(slot.clone())),
            Err(e) => slot.borrow_mut().result = Some(Err(e)),
        }
        CalloutFuture { slot }
    }
}

impl<T> Future for CalloutFuture<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.slot.borrow_mut();
        match slot.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
