//! One plugin's VM on one worker: the streams it holds paused and their waiters, the
//! delivery of callout answers, ticks and queue notices, and the rebuild after a crash.
//!
//! A slot is a [`Lock`]: a guest call holds it for as long as it runs, also while it yields,
//! and everything else that reaches the VM (a request's phases, callout answers, ticks)
//! waits for it.
//!
//! A crashed VM is rebuilt off the request path, on a blocking thread, as its fail policy
//! says ([`FailPolicy`]); requests that need it meanwhile wait for the rebuild, and while it
//! is down (its rebuild failed, or it keeps crashing and waits out a backoff) they fail at
//! once with 503, or go on without it when it fails open ([`Slot::ready`]).

use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Notify};
use wasmgate_host::{HostError, PluginVm, QueueWaker, StreamSignal};

use super::cell::{Guard, Lock, Released};
use super::health::{Backoff, Health};
use crate::callouts::handler::{Outbound, SlotCallouts};
use crate::callouts::task::{self, Answer, Answers, Delivery};
use crate::config::FailPolicy;
use crate::control::plugins::LoadedPlugin;
use crate::upstream::client::Client;
use crate::upstream::Clusters;

pub(crate) type SlotRef = Rc<Lock<Slot>>;

/// A VM built for a slot, and the channel its calls leave by.
pub(crate) struct Built {
    vm: PluginVm,
    outbound: mpsc::UnboundedSender<Outbound>,
    inbox: mpsc::UnboundedReceiver<Outbound>,
}

/// Where a VM crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crash {
    /// In a request's own callback (a phase, its stream's start or end).
    InRequest,
    /// Outside requests: a tick, a queue notice, a callout's answer.
    Background,
}

/// A plugin VM owned by one worker.
pub(crate) struct Slot {
    pub(crate) plugin: Arc<LoadedPlugin>,
    pub(crate) vm: PluginVm,
    /// Bumped on every rebuild: stream ids and callout tokens of an older VM are void.
    pub(crate) generation: u64,
    waiters: HashMap<u32, oneshot::Sender<StreamSignal>>,
    outbound: mpsc::UnboundedSender<Outbound>,
    clusters: Arc<Clusters>,
    /// Wakes this slot's queue task when another VM enqueues to a queue this VM owns.
    queue_waker: QueueWaker,
    health: Health,
    backoff: Backoff,
    /// Wakes the requests waiting for a rebuild when it ends.
    health_changed: Rc<Notify>,
    /// The slot itself, for the rebuild task.
    me: Weak<Lock<Slot>>,
}

impl Slot {
    /// Builds a VM of `plugin` (on any thread: it takes as long as the plugin's start).
    pub(crate) fn build(
        plugin: &LoadedPlugin,
        clusters: &Arc<Clusters>,
    ) -> Result<Built, HostError> {
        let (outbound, inbox) = mpsc::unbounded_channel();
        let handler = SlotCallouts::new(outbound.clone(), clusters.clone(), 0);
        let vm = PluginVm::new(&plugin.module, plugin.vm_config.clone(), Box::new(handler))?;
        Ok(Built {
            vm,
            outbound,
            inbox,
        })
    }

    /// Takes a built VM into a slot of the lock group `released` and starts the tasks that
    /// deliver its callouts, ticks and queue notices.
    pub(crate) fn serve(
        plugin: Arc<LoadedPlugin>,
        clusters: Arc<Clusters>,
        client: Client,
        released: Rc<Released>,
        built: Built,
    ) -> SlotRef {
        let Built {
            vm,
            outbound,
            inbox,
        } = built;
        // One pending wake is enough: the VM delivers everything posted when it runs.
        let (wake, woken) = mpsc::channel(1);
        let queue_waker: QueueWaker = Arc::new(move || {
            let _ = wake.try_send(());
        });
        vm.set_queue_waker(queue_waker.clone());
        let slot = Rc::new_cyclic(|me| {
            Lock::new(
                Slot {
                    plugin,
                    vm,
                    generation: 0,
                    waiters: HashMap::new(),
                    outbound,
                    clusters,
                    queue_waker,
                    health: Health::Serving,
                    backoff: Backoff::default(),
                    health_changed: Rc::new(Notify::new()),
                    me: me.clone(),
                },
                released,
            )
        });
        let answers: Weak<dyn Answers> = Rc::downgrade(&slot) as Weak<Lock<Slot>>;
        tokio::task::spawn_local(task::perform_calls(answers, inbox, client));
        tokio::task::spawn_local(tick_loop(Rc::downgrade(&slot)));
        tokio::task::spawn_local(queue_loop(Rc::downgrade(&slot), woken));
        slot
    }

    /// Waits until `slot`'s VM serves, and holds it: at once when it does, until its rebuild
    /// ends when it is being rebuilt. `Err(passes)` when it is down: whether the request
    /// goes on without the plugin (it fails open) or fails.
    pub(crate) async fn ready(slot: &SlotRef) -> Result<Guard<'_, Slot>, bool> {
        loop {
            let changed = {
                let s = slot.lock().await;
                match s.health {
                    Health::Serving => return Ok(s),
                    Health::Down { .. } => return Err(s.plugin.spec.fail_policy.passes()),
                    Health::Rebuilding => s.health_changed.clone(),
                }
            };
            changed.notified().await;
        }
    }

    /// After a call into the VM failed: a VM the error left unusable is retired (the
    /// requests it held fail, their waiters are dropped) and rebuilt as the fail policy says.
    /// A crash in a request's own callback is rebuilt at once (one bad request must not
    /// take the plugin away from the others); one outside requests (a tick, a queue notice,
    /// a callout's answer) that comes soon after the last rebuild waits out the backoff.
    pub(crate) fn recover(&mut self, error: &HostError, cause: Crash) {
        let unusable = matches!(error, HostError::Trap { .. } | HostError::Poisoned { .. })
            || self.vm.is_poisoned();
        if !unusable || self.health != Health::Serving {
            return;
        }
        self.generation += 1;
        self.waiters.clear();
        let policy = self.plugin.spec.fail_policy;
        if !policy.rebuilds() {
            tracing::error!(
                plugin = %self.plugin.spec.name,
                "plugin VM crashed; fail_policy closed: requests that need it fail with 503 until the configuration is reloaded"
            );
            self.set_health(Health::Down { retry_at: None });
            return;
        }
        let wait = match cause {
            Crash::InRequest => Duration::ZERO,
            Crash::Background => self.backoff.after_crash(Instant::now()),
        };
        if !wait.is_zero() {
            tracing::error!(
                plugin = %self.plugin.spec.name,
                "plugin VM crashed again {} ms after its rebuild; rebuilding it in {} ms; until then {}",
                self.backoff_since_rebuild_ms(),
                wait.as_millis(),
                meanwhile(policy)
            );
        }
        self.schedule_rebuild(wait);
    }

    fn backoff_since_rebuild_ms(&self) -> u128 {
        self.backoff.since_rebuilt(Instant::now()).as_millis()
    }

    /// Rebuilds the VM after `wait`, on a blocking thread; it is down until then.
    fn schedule_rebuild(&mut self, wait: Duration) {
        let generation = self.generation;
        if wait.is_zero() {
            self.set_health(Health::Rebuilding);
        } else {
            self.set_health(Health::Down {
                retry_at: Some(Instant::now() + wait),
            });
        }
        let me = self.me.clone();
        tokio::task::spawn_local(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let Some(slot) = me.upgrade() else { return };
            let (module, config, handler) = {
                let mut s = slot.lock().await;
                if s.generation != generation {
                    return;
                }
                s.set_health(Health::Rebuilding);
                let handler =
                    SlotCallouts::new(s.outbound.clone(), s.clusters.clone(), s.generation);
                (s.plugin.module.clone(), s.plugin.vm_config.clone(), handler)
            };
            drop(slot);
            let built = tokio::task::spawn_blocking(move || {
                PluginVm::new(&module, config, Box::new(handler))
            })
            .await
            .unwrap_or_else(|e| Err(HostError::Engine(format!("the rebuild stopped: {e}"))));
            if let Some(slot) = me.upgrade() {
                slot.lock().await.rebuilt(generation, built);
            }
        });
    }

    /// Takes the rebuilt VM, or backs off and tries again later.
    fn rebuilt(&mut self, generation: u64, built: Result<PluginVm, HostError>) {
        if generation != self.generation {
            return;
        }
        match built {
            Ok(vm) => {
                tracing::warn!(plugin = %self.plugin.spec.name, "plugin VM rebuilt after a crash");
                vm.set_queue_waker(self.queue_waker.clone());
                self.vm = vm;
                self.backoff.rebuilt(Instant::now());
                self.set_health(Health::Serving);
            }
            Err(e) => {
                let wait = self.backoff.after_failed_rebuild();
                tracing::error!(
                    plugin = %self.plugin.spec.name,
                    "cannot rebuild the plugin VM: {e}; trying again in {} ms; until then {}",
                    wait.as_millis(),
                    meanwhile(self.plugin.spec.fail_policy)
                );
                self.schedule_rebuild(wait);
            }
        }
    }

    fn set_health(&mut self, health: Health) {
        self.health = health;
        self.health_changed.notify_waiters();
    }

    /// Whether the VM serves (ticks, queue notices and answers go only to a serving VM).
    pub(crate) fn serving(&self) -> bool {
        self.health == Health::Serving
    }

    /// Registers the waiter of a paused stream.
    pub(crate) fn wait(&mut self, id: u32) -> oneshot::Receiver<StreamSignal> {
        let (tx, rx) = oneshot::channel();
        self.waiters.insert(id, tx);
        rx
    }

    /// Forgets the waiter of a stream (it timed out or ended).
    pub(crate) fn forget(&mut self, id: u32) {
        self.waiters.remove(&id);
    }

    /// Hands the streams' new actions to their waiters.
    pub(crate) fn dispatch(&mut self) {
        for id in self.vm.take_signaled() {
            let Some(signal) = self.vm.take_signal(id) else {
                continue;
            };
            while self.vm.take_signal(id).is_some() {}
            if let Some(waiter) = self.waiters.remove(&id) {
                let _ = waiter.send(signal);
            }
        }
    }

    /// Delivers a callout's answer to the VM that made the call.
    async fn deliver(&mut self, generation: u64, token: u32, answer: Answer) {
        if generation != self.generation {
            return;
        }
        let delivered = match answer {
            Answer::Http(response) => self.vm.on_http_call_response(token, response).await,
            Answer::Redis { status, reply } => {
                self.vm.on_redis_call_response(token, status, reply).await
            }
            Answer::Grpc(event) => self.vm.on_grpc_event(token, event).await,
        };
        self.after_root_callback(delivered);
    }

    async fn tick(&mut self) {
        if !self.serving() {
            return;
        }
        let ticked = self.vm.on_tick().await;
        self.after_root_callback(ticked);
    }

    async fn queue_ready(&mut self) {
        if !self.serving() {
            return;
        }
        let delivered = self.vm.deliver_queue_ready().await;
        self.after_root_callback(delivered);
    }

    /// After a callback on the root context: a failure is logged and the VM rebuilt if it
    /// must be; otherwise the streams it resumed or answered get their signals.
    fn after_root_callback(&mut self, result: Result<(), HostError>) {
        match result {
            Ok(()) => self.dispatch(),
            Err(e) => {
                tracing::error!(plugin = %self.plugin.spec.name, "{e}");
                self.recover(&e, Crash::Background);
            }
        }
    }
}

impl Answers for Lock<Slot> {
    fn deliver(&self, generation: u64, token: u32, answer: Answer) -> Delivery<'_> {
        Box::pin(async move {
            let mut slot = self.lock().await;
            slot.deliver(generation, token, answer).await;
        })
    }
}

/// What requests that need a plugin get while it is down.
fn meanwhile(policy: FailPolicy) -> &'static str {
    if policy.passes() {
        "requests go on without it (fail open)"
    } else {
        "requests that need it fail with 503"
    }
}

/// Delivers `proxy_on_queue_ready` when another VM enqueued to a queue this slot's VM
/// owns; ends when the slot and its VMs (which hold the waker) are gone.
async fn queue_loop(slot: Weak<Lock<Slot>>, mut woken: mpsc::Receiver<()>) {
    while woken.recv().await.is_some() {
        let Some(slot) = slot.upgrade() else { return };
        slot.lock().await.queue_ready().await;
    }
}

/// Fires `proxy_on_tick` at the period the plugin set, for as long as the slot lives.
async fn tick_loop(slot: Weak<Lock<Slot>>) {
    loop {
        let period = match slot.upgrade() {
            Some(slot) => slot.lock().await.vm.tick_period_ms(),
            None => return,
        };
        if period == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        tokio::time::sleep(Duration::from_millis(period as u64)).await;
        let Some(slot) = slot.upgrade() else { return };
        slot.lock().await.tick().await;
    }
}
