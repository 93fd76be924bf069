//! Tick functions (wasm-go's `RegisterTickFunc`) and shared-queue callbacks.
//!
//! Register a tick function with [`PluginContext::register_tick`](crate::PluginContext::register_tick)
//! from the start hook or a parse function (`PluginContext::default().register_tick(..)`).
//! When any exist after the plugin starts, the SDK asks the host for a tick every
//! [`HOST_TICK_MS`] (100 ms, as wasm-go does) and runs each function when its own period
//! has passed since it last ran (or since the start). Registrations are replaced at each
//! (re)configuration.
//!
//! **Once per name:** wasm-go runs a function once per registration, and its parse
//! callbacks run for the global config and again for each rule, so functions registered
//! while parsing run several times per period. [`Tick::every_ms`] behaves the same (every
//! registration adds a function); give the tick a name with [`Tick::named`] and a second
//! registration with the same name and period has no effect.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::raw;

/// The host tick period the SDK asks for when tick functions exist.
pub const HOST_TICK_MS: u32 = 100;

/// When a tick function runs, and whether registering it again adds another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    period_ms: u64,
    name: Option<String>,
}

impl Tick {
    /// Every `period_ms` milliseconds (at the host's 100 ms granularity: a shorter period
    /// runs on every tick). Each registration adds a function.
    pub fn every_ms(period_ms: u64) -> Self {
        Tick {
            period_ms,
            name: None,
        }
    }

    /// Registered once per name and period: registering the same name and period again
    /// (from a parse function that runs once per rule, say) has no effect.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }
}

struct TickFunc {
    tick: Tick,
    last_ms: u64,
    f: Rc<dyn Fn()>,
}

type QueueFn = Rc<dyn Fn(u32)>;

#[derive(Default)]
struct Ticks {
    staged: Vec<TickFunc>,
    active: Vec<TickFunc>,
    queues: HashMap<u32, QueueFn>,
}

thread_local! {
    static TICKS: RefCell<Ticks> = RefCell::new(Ticks::default());
}

fn now_ms() -> u64 {
    raw::get_current_time_nanos()
        .map(|n| n / 1_000_000)
        .unwrap_or(0)
}

/// How many tick functions are active (registered by the last successful start).
pub fn active_count() -> usize {
    TICKS.with(|t| t.borrow().active.len())
}

/// Adds a tick function, unless a named one of the same name and period exists.
pub(crate) fn register(tick: Tick, f: Rc<dyn Fn()>) {
    TICKS.with(|t| {
        let mut t = t.borrow_mut();
        if tick.name.is_some() && t.staged.iter().any(|x| x.tick == tick) {
            return;
        }
        t.staged.push(TickFunc {
            tick,
            last_ms: 0,
            f,
        });
    });
}

/// Calls `f` with the queue id whenever the shared queue `queue_id` has data.
pub fn on_queue(queue_id: u32, f: impl Fn(u32) + 'static) {
    TICKS.with(|t| t.borrow_mut().queues.insert(queue_id, Rc::new(f)));
}

/// Called before the configuration is parsed: registrations start over.
pub(crate) fn before_configure() {
    TICKS.with(|t| t.borrow_mut().staged.clear());
}

/// Called after a successful start: the registered functions become active.
pub(crate) fn after_configure() {
    let (had, any) = TICKS.with(|t| {
        let mut t = t.borrow_mut();
        let now = now_ms();
        let mut staged = std::mem::take(&mut t.staged);
        for f in &mut staged {
            f.last_ms = now;
        }
        let had = !t.active.is_empty();
        t.active = staged;
        (had, !t.active.is_empty())
    });
    if any || had {
        let period = if any { HOST_TICK_MS } else { 0 };
        if let Err(e) = raw::set_tick_period_ms(period) {
            crate::warn!("cannot set the tick period: {e}");
        }
    }
}

/// `proxy_on_tick`: runs the functions whose period has passed.
pub(crate) fn on_tick() {
    let now = now_ms();
    let due: Vec<Rc<dyn Fn()>> = TICKS.with(|t| {
        let mut t = t.borrow_mut();
        t.active
            .iter_mut()
            .filter(|f| now.saturating_sub(f.last_ms) >= f.tick.period_ms.max(1) || now == 0)
            .map(|f| {
                f.last_ms = now;
                f.f.clone()
            })
            .collect()
    });
    for f in due {
        f();
    }
}

/// `proxy_on_queue_ready`.
pub(crate) fn on_queue_ready(queue_id: u32) {
    let f = TICKS.with(|t| t.borrow().queues.get(&queue_id).cloned());
    if let Some(f) = f {
        f(queue_id);
    }
}
