//! [`Lock`]: a value of one worker thread that a task may hold across an await (a guest call
//! that yields holds its VM), and that the other tasks wait for instead of finding borrowed.
//! The locks of one plugin's VMs share one [`Released`], so a request that can take any of
//! them waits for the first one let go.

use std::cell::{Cell, RefCell, RefMut};
use std::ops::{Deref, DerefMut};
use std::pin::pin;
use std::rc::Rc;

use tokio::sync::Notify;

/// Wakes the tasks that wait for one of a group of locks when one is let go.
#[derive(Default)]
pub(crate) struct Released {
    notify: Notify,
    /// Tasks waiting now: no wake is sent when there are none (the common case).
    waiting: Cell<usize>,
}

impl Released {
    /// Waits until `ready` gives something, trying again each time a lock of the group is
    /// let go.
    pub(crate) async fn wait_for<T>(&self, mut ready: impl FnMut() -> Option<T>) -> T {
        // Most of the time it is ready at once: no waiter is made then.
        if let Some(value) = ready() {
            return value;
        }
        loop {
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            if let Some(value) = ready() {
                return value;
            }
            let _waiting = Waiting::count(&self.waiting);
            notified.await;
        }
    }

    /// Wakes the waiting tasks, if any.
    pub(crate) fn wake(&self) {
        if self.waiting.get() > 0 {
            self.notify.notify_waiters();
        }
    }
}

/// One task counted as waiting, for as long as it waits (also when its future is dropped).
struct Waiting<'a>(&'a Cell<usize>);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a Cell<usize>) -> Self {
        waiting.set(waiting.get() + 1);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A value a task holds through a [`Guard`]; the others wait for it with [`Lock::lock`].
pub(crate) struct Lock<T> {
    value: RefCell<T>,
    released: Rc<Released>,
}

impl<T> Lock<T> {
    /// A lock in the group `released` wakes.
    pub(crate) fn new(value: T, released: Rc<Released>) -> Self {
        Lock {
            value: RefCell::new(value),
            released,
        }
    }

    /// The value, once no task holds it.
    pub(crate) async fn lock(&self) -> Guard<'_, T> {
        self.released.wait_for(|| self.try_lock()).await
    }

    /// The value, if no task holds it now.
    fn try_lock(&self) -> Option<Guard<'_, T>> {
        let value = self.value.try_borrow_mut().ok()?;
        Some(Guard {
            value,
            released: &self.released,
        })
    }

    /// What `look` sees of the value, if no task holds it now (a look wakes no one).
    pub(crate) fn peek<R>(&self, look: impl FnOnce(&T) -> R) -> Option<R> {
        self.value.try_borrow().ok().map(|value| look(&value))
    }
}

/// The value of a [`Lock`] while a task holds it; letting it go wakes the waiting tasks.
pub(crate) struct Guard<'a, T> {
    value: RefMut<'a, T>,
    released: &'a Released,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // The value is still borrowed here; the woken tasks run after this one yields.
        self.released.wake();
    }
}
