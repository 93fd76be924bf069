//! One plugin's VM on one worker: the streams it holds paused and their waiters, the
//! delivery of callout answers, ticks and queue notices, and the rebuild after a crash.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use wasmgate_host::{
    GrpcEvent, HostError, HttpCalloutResponse, PluginVm, QueueWaker, StreamSignal,
};

use crate::callouts::handler::{Outbound, SlotCallouts};
use crate::callouts::task::{self, Answers};
use crate::control::plugins::LoadedPlugin;
use crate::upstream::client::Client;
use crate::upstream::Clusters;

pub(crate) type SlotRef = Rc<RefCell<Slot>>;

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
}

impl Slot {
    /// Builds the VM and starts the tasks that deliver its callouts, ticks and queue notices.
    pub(crate) fn start(
        plugin: Arc<LoadedPlugin>,
        clusters: Arc<Clusters>,
        client: Client,
    ) -> Result<SlotRef, HostError> {
        let (outbound, inbox) = mpsc::unbounded_channel();
        let handler = SlotCallouts::new(outbound.clone(), clusters.clone(), 0);
        let vm = PluginVm::new(&plugin.module, plugin.vm_config.clone(), Box::new(handler))?;
        // One pending wake is enough: the VM delivers everything posted when it runs.
        let (wake, woken) = mpsc::channel(1);
        let queue_waker: QueueWaker = Arc::new(move || {
            let _ = wake.try_send(());
        });
        vm.set_queue_waker(queue_waker.clone());
        let slot = Rc::new(RefCell::new(Slot {
            plugin,
            vm,
            generation: 0,
            waiters: HashMap::new(),
            outbound,
            clusters,
            queue_waker,
        }));
        let answers: Weak<dyn Answers> = Rc::downgrade(&slot) as Weak<RefCell<Slot>>;
        tokio::task::spawn_local(task::perform_calls(answers, inbox, client));
        tokio::task::spawn_local(tick_loop(Rc::downgrade(&slot)));
        tokio::task::spawn_local(queue_loop(Rc::downgrade(&slot), woken));
        Ok(slot)
    }

    /// Replaces a crashed VM. Requests held by the old VM fail (their waiters are dropped).
    pub(crate) fn rebuild(&mut self) {
        self.generation += 1;
        self.waiters.clear();
        let handler = SlotCallouts::new(
            self.outbound.clone(),
            self.clusters.clone(),
            self.generation,
        );
        match PluginVm::new(
            &self.plugin.module,
            self.plugin.vm_config.clone(),
            Box::new(handler),
        ) {
            Ok(vm) => {
                tracing::warn!(plugin = %self.plugin.spec.name, "plugin VM rebuilt after a crash");
                vm.set_queue_waker(self.queue_waker.clone());
                self.vm = vm;
            }
            Err(e) => {
                tracing::error!(plugin = %self.plugin.spec.name, "cannot rebuild the plugin VM: {e}")
            }
        }
    }

    /// Rebuilds the VM if the error left it unusable.
    pub(crate) fn recover(&mut self, error: &HostError) {
        if matches!(error, HostError::Trap { .. } | HostError::Poisoned { .. })
            || self.vm.is_poisoned()
        {
            self.rebuild();
        }
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

    /// Delivers an HTTP callout's answer to the VM that made it.
    fn deliver_http(&mut self, generation: u64, token: u32, response: Option<HttpCalloutResponse>) {
        if generation != self.generation {
            return;
        }
        let delivered = self.vm.on_http_call_response(token, response);
        self.after_root_callback(delivered);
    }

    /// Delivers a Redis reply to the VM that made the call.
    fn deliver_redis(&mut self, generation: u64, token: u32, status: i32, reply: Vec<u8>) {
        if generation != self.generation {
            return;
        }
        let delivered = self.vm.on_redis_call_response(token, status, reply);
        self.after_root_callback(delivered);
    }

    /// Delivers what came back on a gRPC call or stream to the VM that made it.
    fn deliver_grpc(&mut self, generation: u64, token: u32, event: GrpcEvent) {
        if generation != self.generation {
            return;
        }
        let delivered = self.vm.on_grpc_event(token, event);
        self.after_root_callback(delivered);
    }

    fn tick(&mut self) {
        let ticked = self.vm.on_tick();
        self.after_root_callback(ticked);
    }

    fn queue_ready(&mut self) {
        let delivered = self.vm.deliver_queue_ready();
        self.after_root_callback(delivered);
    }

    /// After a callback on the root context: a failure is logged and the VM rebuilt if it
    /// must be; otherwise the streams it resumed or answered get their signals.
    fn after_root_callback(&mut self, result: Result<(), HostError>) {
        match result {
            Ok(()) => self.dispatch(),
            Err(e) => {
                tracing::error!(plugin = %self.plugin.spec.name, "{e}");
                self.recover(&e);
            }
        }
    }
}

impl Answers for RefCell<Slot> {
    fn http_answer(&self, generation: u64, token: u32, response: Option<HttpCalloutResponse>) {
        self.borrow_mut().deliver_http(generation, token, response);
    }

    fn redis_answer(&self, generation: u64, token: u32, status: i32, reply: Vec<u8>) {
        self.borrow_mut()
            .deliver_redis(generation, token, status, reply);
    }

    fn grpc_event(&self, generation: u64, token: u32, event: GrpcEvent) {
        self.borrow_mut().deliver_grpc(generation, token, event);
    }
}

/// Delivers `proxy_on_queue_ready` when another VM enqueued to a queue this slot's VM
/// owns; ends when the slot and its VMs (which hold the waker) are gone.
async fn queue_loop(slot: Weak<RefCell<Slot>>, mut woken: mpsc::Receiver<()>) {
    while woken.recv().await.is_some() {
        match slot.upgrade() {
            Some(slot) => slot.borrow_mut().queue_ready(),
            None => return,
        }
    }
}

/// Fires `proxy_on_tick` at the period the plugin set, for as long as the slot lives.
async fn tick_loop(slot: Weak<RefCell<Slot>>) {
    loop {
        let period = match slot.upgrade() {
            Some(slot) => slot.borrow().vm.tick_period_ms(),
            None => return,
        };
        if period == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        tokio::time::sleep(Duration::from_millis(period as u64)).await;
        match slot.upgrade() {
            Some(slot) => slot.borrow_mut().tick(),
            None => return,
        }
    }
}
