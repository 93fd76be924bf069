//! Tick functions (wasm-go's `RegisterTickFunc`) and shared-queue callbacks.
//!
//! Register tick functions from the start hook ([`PluginContext::register_tick_func`](crate::PluginContext::register_tick_func))
//! or a parse function. When any exist after the plugin starts, the SDK asks the host for a
//! tick every [`HOST_TICK_MS`] (100 ms, as wasm-go does) and runs each function when its own
//! period has passed since it last ran (or since the start). Registrations are replaced at
//! each (re)configuration.
//!
//! **Dedupe:** wasm-go runs a function once per registration, and its parse callbacks run
//! for the global config and again for each rule, so functions registered while parsing
//! run several times per period. Here a plain `fn` registered again with the same period
//! ([`register_tick_fn`]) and a closure registered again under the same name
//! ([`register_named_tick_func`]) run once per period; [`register_tick_func`] never
//! dedupes (closures that capture different state are different functions).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::hostcalls;

/// The host tick period the SDK asks for when tick functions exist.
pub const HOST_TICK_MS: u32 = 100;

struct TickFunc {
    period_ms: u64,
    last_ms: u64,
    key: Option<(TickKey, u64)>,
    f: Rc<dyn Fn()>,
}

#[derive(Clone, PartialEq, Eq)]
enum TickKey {
    Fn(usize),
    Named(String),
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
    hostcalls::get_current_time_nanos()
        .map(|n| n / 1_000_000)
        .unwrap_or(0)
}

/// Runs `f` every `period_ms` milliseconds (at the host's 100 ms tick granularity; a
/// period below 100 ms runs on every tick). Every call adds a function.
pub fn register_tick_func(period_ms: u64, f: impl Fn() + 'static) {
    push(period_ms, None, Rc::new(f));
}

/// Like [`register_tick_func`] for a plain function: registering the same function with
/// the same period again has no effect.
pub fn register_tick_fn(period_ms: u64, f: fn()) {
    push(
        period_ms,
        Some((TickKey::Fn(f as usize), period_ms)),
        Rc::new(f),
    );
}

/// Like [`register_tick_func`], but a second registration with the same `name` and period
/// has no effect (for closures registered from a parse function, which runs once for the
/// global config and once per rule).
pub fn register_named_tick_func(name: &str, period_ms: u64, f: impl Fn() + 'static) {
    push(
        period_ms,
        Some((TickKey::Named(name.to_string()), period_ms)),
        Rc::new(f),
    );
}

/// How many tick functions are active (registered by the last successful start).
pub fn active_count() -> usize {
    TICKS.with(|t| t.borrow().active.len())
}

fn push(period_ms: u64, key: Option<(TickKey, u64)>, f: Rc<dyn Fn()>) {
    TICKS.with(|t| {
        let mut t = t.borrow_mut();
        if key.is_some() && t.staged.iter().any(|x| x.key == key) {
            return;
        }
        t.staged.push(TickFunc {
            period_ms: period_ms.max(1),
            last_ms: 0,
            key,
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
        if let Err(e) = hostcalls::set_tick_period_ms(period) {
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
            .filter(|f| now.saturating_sub(f.last_ms) >= f.period_ms || now == 0)
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
