//! Process-wide state every VM of a runtime sees: shared data (with compare-and-swap),
//! shared queues, and the metrics plugins define. Keyed by VM id, as in Envoy.
//!
//! A queue's `proxy_on_queue_ready` goes, as in Envoy, to the root context of the VM that
//! registered the queue last, whichever VM (or worker) enqueued: each VM has a
//! [`QueueInbox`] the enqueue posts to, and the VM's embedder is woken to deliver it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use wasmgate_abi::{MetricType, Status};

/// Shared data, queues and metrics. Cheap to clone; clones share everything.
#[derive(Clone, Default)]
pub struct Shared {
    data: Arc<Mutex<SharedData>>,
    queues: Arc<Mutex<Queues>>,
    metrics: Arc<Mutex<Metrics>>,
}

#[derive(Default)]
struct SharedData {
    entries: HashMap<(String, Vec<u8>), (Vec<u8>, u32)>,
    next_cas: u32,
}

#[derive(Default)]
struct Queues {
    by_name: HashMap<(String, Vec<u8>), u32>,
    items: HashMap<u32, VecDeque<Vec<u8>>>,
    /// The inbox of the VM that registered each queue last; gone when that VM is.
    owners: HashMap<u32, Weak<Inbox>>,
    next_id: u32,
}

/// Where one VM receives the ids of its queues that got items. Cheap to clone.
#[derive(Clone, Default)]
pub struct QueueInbox(Arc<Inbox>);

/// What wakes a VM's embedder when its inbox gets an id (it may run on another thread).
pub type QueueWaker = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Inbox {
    ready: Mutex<Vec<u32>>,
    /// Whether `ready` has ids: a VM looks after every callback, mostly to find none.
    posted: AtomicBool,
    waker: Mutex<Option<QueueWaker>>,
}

impl QueueInbox {
    /// Sets what is called after an id is posted, so the owner delivers it soon.
    pub fn set_waker(&self, waker: QueueWaker) {
        *lock(&self.0.waker) = Some(waker);
    }

    /// The posted ids, oldest first; one per enqueue, as Envoy calls `on_queue_ready`.
    pub fn take(&self) -> Vec<u32> {
        if !self.0.posted.load(AtomicOrdering::Acquire) {
            return Vec::new();
        }
        let mut ready = lock(&self.0.ready);
        self.0.posted.store(false, AtomicOrdering::Release);
        std::mem::take(&mut *ready)
    }

    fn post(inbox: &Inbox, id: u32) {
        {
            let mut ready = lock(&inbox.ready);
            ready.push(id);
            inbox.posted.store(true, AtomicOrdering::Release);
        }
        let waker = lock(&inbox.waker).clone();
        if let Some(wake) = waker {
            wake();
        }
    }
}

/// One metric a plugin defined.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The name the plugin gave.
    pub name: String,
    /// Counter, gauge or histogram.
    pub kind: MetricType,
    /// Counter or gauge value; for a histogram, the sum of recorded values.
    pub value: i64,
    /// For a histogram, the recorded values (bounded, oldest dropped).
    pub samples: Vec<u64>,
    /// For a histogram, how many values were recorded.
    pub count: u64,
}

#[derive(Default)]
struct Metrics {
    by_name: HashMap<String, u32>,
    list: Vec<Metric>,
}

const HISTOGRAM_SAMPLES: usize = 1024;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// `proxy_get_shared_data`: the value and its CAS (never 0 for a present key).
    pub fn get(&self, vm_id: &str, key: &[u8]) -> Option<(Vec<u8>, u32)> {
        lock(&self.data)
            .entries
            .get(&(vm_id.to_string(), key.to_vec()))
            .cloned()
    }

    /// `proxy_set_shared_data`: cas 0 sets unconditionally; otherwise it must match.
    pub fn set(&self, vm_id: &str, key: &[u8], value: &[u8], cas: u32) -> Status {
        let mut data = lock(&self.data);
        let entry_key = (vm_id.to_string(), key.to_vec());
        if cas != 0 {
            match data.entries.get(&entry_key) {
                Some((_, current)) if *current == cas => {}
                _ => return Status::CasMismatch,
            }
        }
        data.next_cas = data.next_cas.wrapping_add(1).max(1);
        let next = data.next_cas;
        data.entries.insert(entry_key, (value.to_vec(), next));
        Status::Ok
    }

    /// `proxy_register_shared_queue`: the queue id (the same for the same name). `owner`
    /// becomes the queue's one receiver of `on_queue_ready`, replacing an earlier one.
    pub fn register_queue(&self, vm_id: &str, name: &[u8], owner: &QueueInbox) -> u32 {
        let mut queues = lock(&self.queues);
        let key = (vm_id.to_string(), name.to_vec());
        let id = match queues.by_name.get(&key) {
            Some(id) => *id,
            None => {
                queues.next_id += 1;
                let id = queues.next_id;
                queues.by_name.insert(key, id);
                queues.items.insert(id, VecDeque::new());
                id
            }
        };
        queues.owners.insert(id, Arc::downgrade(&owner.0));
        id
    }

    /// `proxy_resolve_shared_queue`.
    pub fn resolve_queue(&self, vm_id: &str, name: &[u8]) -> Option<u32> {
        lock(&self.queues)
            .by_name
            .get(&(vm_id.to_string(), name.to_vec()))
            .copied()
    }

    /// `proxy_enqueue_shared_queue`: the item is queued and the queue's owner told.
    pub fn enqueue(&self, id: u32, value: &[u8]) -> Status {
        let owner = {
            let mut queues = lock(&self.queues);
            let Some(items) = queues.items.get_mut(&id) else {
                return Status::NotFound;
            };
            items.push_back(value.to_vec());
            queues.owners.get(&id).and_then(Weak::upgrade)
        };
        // Posted outside the queues' lock: the waker may take locks of its own.
        if let Some(inbox) = owner {
            QueueInbox::post(&inbox, id);
        }
        Status::Ok
    }

    /// `proxy_dequeue_shared_queue`: `Err(Empty)` when there is nothing.
    pub fn dequeue(&self, id: u32) -> Result<Vec<u8>, Status> {
        match lock(&self.queues).items.get_mut(&id) {
            Some(items) => items.pop_front().ok_or(Status::Empty),
            None => Err(Status::NotFound),
        }
    }

    /// `proxy_define_metric`: the same name gives the same id.
    pub fn define_metric(&self, kind: MetricType, name: &str) -> u32 {
        let mut metrics = lock(&self.metrics);
        if let Some(id) = metrics.by_name.get(name) {
            return *id;
        }
        let id = metrics.list.len() as u32;
        metrics.list.push(Metric {
            name: name.to_string(),
            kind,
            value: 0,
            samples: Vec::new(),
            count: 0,
        });
        metrics.by_name.insert(name.to_string(), id);
        id
    }

    /// `proxy_increment_metric` (counters and gauges).
    pub fn increment_metric(&self, id: u32, delta: i64) -> Status {
        let mut metrics = lock(&self.metrics);
        match metrics.list.get_mut(id as usize) {
            Some(m) if m.kind == MetricType::Histogram => Status::BadArgument,
            Some(m) => {
                m.value = m.value.saturating_add(delta);
                Status::Ok
            }
            None => Status::NotFound,
        }
    }

    /// `proxy_record_metric`: sets a counter or gauge, records a histogram sample.
    pub fn record_metric(&self, id: u32, value: u64) -> Status {
        let mut metrics = lock(&self.metrics);
        match metrics.list.get_mut(id as usize) {
            Some(m) if m.kind == MetricType::Histogram => {
                m.count += 1;
                m.value = m.value.saturating_add(value as i64);
                if m.samples.len() == HISTOGRAM_SAMPLES {
                    m.samples.remove(0);
                }
                m.samples.push(value);
                Status::Ok
            }
            Some(m) => {
                m.value = value as i64;
                Status::Ok
            }
            None => Status::NotFound,
        }
    }

    /// `proxy_get_metric`.
    pub fn metric_value(&self, id: u32) -> Option<i64> {
        lock(&self.metrics).list.get(id as usize).map(|m| m.value)
    }

    /// Every metric defined so far, for `/metrics` and for tests.
    pub fn metrics(&self) -> Vec<Metric> {
        lock(&self.metrics).list.clone()
    }

    /// A metric by name.
    pub fn metric(&self, name: &str) -> Option<Metric> {
        let metrics = lock(&self.metrics);
        let id = *metrics.by_name.get(name)?;
        metrics.list.get(id as usize).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_rejects_a_stale_version() {
        let shared = Shared::default();
        assert_eq!(shared.set("vm", b"k", b"1", 0), Status::Ok);
        let (_, cas) = shared.get("vm", b"k").unwrap();
        assert_ne!(cas, 0);
        assert_eq!(shared.set("vm", b"k", b"2", cas), Status::Ok);
        assert_eq!(shared.set("vm", b"k", b"3", cas), Status::CasMismatch);
        assert_eq!(shared.get("vm", b"k").unwrap().0, b"2");
        assert!(shared.get("other-vm", b"k").is_none());
    }

    #[test]
    fn queues_are_fifo_and_named() {
        let shared = Shared::default();
        let inbox = QueueInbox::default();
        let id = shared.register_queue("vm", b"q", &inbox);
        assert_eq!(shared.register_queue("vm", b"q", &inbox), id);
        assert_eq!(shared.resolve_queue("vm", b"q"), Some(id));
        assert_eq!(shared.dequeue(id), Err(Status::Empty));
        shared.enqueue(id, b"a");
        shared.enqueue(id, b"b");
        assert_eq!(shared.dequeue(id).unwrap(), b"a");
        assert_eq!(shared.enqueue(999, b"x"), Status::NotFound);
    }

    #[test]
    fn queue_ready_goes_to_the_last_registrant_once_per_item() {
        let shared = Shared::default();
        let (first, last) = (QueueInbox::default(), QueueInbox::default());
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = woken.clone();
        last.set_waker(Arc::new(move || {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        let id = shared.register_queue("vm", b"q", &first);
        shared.register_queue("vm", b"q", &last);
        shared.enqueue(id, b"a");
        shared.enqueue(id, b"b");
        assert_eq!(first.take(), Vec::<u32>::new());
        assert_eq!(last.take(), vec![id, id]);
        assert_eq!(woken.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn a_gone_owner_leaves_items_queued() {
        let shared = Shared::default();
        let id = shared.register_queue("vm", b"q", &QueueInbox::default());
        assert_eq!(shared.enqueue(id, b"a"), Status::Ok);
        assert_eq!(shared.dequeue(id).unwrap(), b"a");
    }

    #[test]
    fn metrics_by_kind() {
        let shared = Shared::default();
        let c = shared.define_metric(MetricType::Counter, "c");
        assert_eq!(shared.define_metric(MetricType::Counter, "c"), c);
        shared.increment_metric(c, 2);
        shared.increment_metric(c, 3);
        assert_eq!(shared.metric_value(c), Some(5));
        let h = shared.define_metric(MetricType::Histogram, "h");
        shared.record_metric(h, 7);
        assert_eq!(shared.metric("h").unwrap().count, 1);
        assert_eq!(shared.increment_metric(h, 1), Status::BadArgument);
    }
}
