//! Metrics: counters, gauges and histograms by name, with their host ids cached.
//!
//! wasm-go has no wrapper (plugins call `proxywasm.Define*Metric` and keep the ids
//! themselves). Here [`Counter::new`], [`Gauge::new`] and [`Histogram::new`] define the
//! metric on first use and return the cached handle afterwards, so a handler can write
//! `Counter::new("my_plugin.requests")?.increment(1)?` on every request at the cost of a
//! map lookup. Handles are `Copy`; keep one in a config or a `thread_local` if you like.
//! Names follow the host's rules (Higress's `ai-statistics` uses
//! `route.<r>.upstream.<c>.model.<m>.consumer.<u>.metric.<x>`).

use std::cell::RefCell;
use std::collections::HashMap;

use wasmgate_abi::MetricType;

use crate::error::Result;
use crate::raw;

thread_local! {
    static IDS: RefCell<HashMap<(u32, String), u32>> = RefCell::new(HashMap::new());
}

/// The host id of a metric, defining it on first use.
fn define(kind: MetricType, name: &str) -> Result<u32> {
    let key = (kind.raw(), name.to_string());
    if let Some(id) = IDS.with(|ids| ids.borrow().get(&key).copied()) {
        return Ok(id);
    }
    let id = raw::define_metric(kind, name)?;
    IDS.with(|ids| ids.borrow_mut().insert(key, id));
    Ok(id)
}

/// A counter: a value that only goes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    id: u32,
}

impl Counter {
    /// The counter `name`, defined on first use (cached by name afterwards).
    pub fn new(name: &str) -> Result<Self> {
        Ok(Counter {
            id: define(MetricType::Counter, name)?,
        })
    }

    /// The host's id of the metric.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Adds `delta`.
    pub fn increment(&self, delta: u64) -> Result<()> {
        raw::increment_metric(self.id, delta.min(i64::MAX as u64) as i64)
    }

    /// The current value.
    pub fn value(&self) -> Result<u64> {
        raw::get_metric(self.id)
    }
}

/// A gauge: a value that is set, or moved up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gauge {
    id: u32,
}

impl Gauge {
    /// The gauge `name`, defined on first use (cached by name afterwards).
    pub fn new(name: &str) -> Result<Self> {
        Ok(Gauge {
            id: define(MetricType::Gauge, name)?,
        })
    }

    /// The host's id of the metric.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Sets the value.
    pub fn set(&self, value: u64) -> Result<()> {
        raw::record_metric(self.id, value)
    }

    /// Adds `delta` (negative to decrease).
    pub fn add(&self, delta: i64) -> Result<()> {
        raw::increment_metric(self.id, delta)
    }

    /// The current value.
    pub fn value(&self) -> Result<u64> {
        raw::get_metric(self.id)
    }
}

/// A histogram: recorded values (latencies, sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram {
    id: u32,
}

impl Histogram {
    /// The histogram `name`, defined on first use (cached by name afterwards).
    pub fn new(name: &str) -> Result<Self> {
        Ok(Histogram {
            id: define(MetricType::Histogram, name)?,
        })
    }

    /// The host's id of the metric.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Records one value.
    pub fn record(&self, value: u64) -> Result<()> {
        raw::record_metric(self.id, value)
    }
}

/// Adds `delta` to the counter `name` (defining it on first use).
pub fn increment_counter(name: &str, delta: u64) -> Result<()> {
    Counter::new(name)?.increment(delta)
}

/// Sets the gauge `name` (defining it on first use).
pub fn set_gauge(name: &str, value: u64) -> Result<()> {
    Gauge::new(name)?.set(value)
}

/// Records a value in the histogram `name` (defining it on first use).
pub fn record_histogram(name: &str, value: u64) -> Result<()> {
    Histogram::new(name)?.record(value)
}
