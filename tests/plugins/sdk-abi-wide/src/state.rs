//! Shared data (with CAS), ticks and metrics.

use wasmgate_sdk::prelude::*;
use wasmgate_sdk::raw::{get_shared_data, set_shared_data};

const TICKS_KEY: &str = "abi-wide.ticks";
const SHARED_KEY: &str = "abi-wide.shared";
/// The ABI's `BadArgument` and `CasMismatch` statuses.
const BAD_ARGUMENT: u32 = 2;
const CAS_MISMATCH: u32 = 8;

/// Counts ticks in shared data, retrying on a CAS mismatch.
pub fn on_tick() {
    for _ in 0..3 {
        let (n, cas) = match get_shared_data(TICKS_KEY) {
            Ok(Some((value, cas))) => (number(&value), cas),
            _ => (0, 0),
        };
        let set = set_shared_data(TICKS_KEY, (n + 1).to_string().as_bytes(), cas);
        if status(&set) != "cas-mismatch" {
            return;
        }
    }
}

fn number(value: &[u8]) -> i64 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn report_ticks(ctx: &HttpContext) -> Result<()> {
    let ticked = match get_shared_data(TICKS_KEY) {
        Ok(Some((value, _))) if number(&value) >= 1 => "yes",
        _ => "no",
    };
    ctx.add_request_header("x-ticked", ticked)
}

/// A host call's outcome as the Go twin names it.
pub fn status<T>(result: &Result<T>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) if e.is_not_found() => "not-found",
        Err(e) if e.status().map(|s| s.raw()) == Some(CAS_MISMATCH) => "cas-mismatch",
        Err(e) if e.status().map(|s| s.raw()) == Some(BAD_ARGUMENT) => "bad-argument",
        Err(_) => "error",
    }
}

/// Reads the key, writes value+1 with the CAS read, writes again with the stale CAS (a
/// mismatch), reads it back, writes another key with CAS 0 (unconditional). Reported in
/// `x-shared`.
pub fn shared_data(ctx: &HttpContext) -> Result<()> {
    let mut steps = Vec::new();
    let (n, cas) = match get_shared_data(SHARED_KEY) {
        Ok(Some((value, cas))) => {
            steps.push(format!("get={}", String::from_utf8_lossy(&value)));
            (number(&value), cas)
        }
        Ok(None) => {
            steps.push("get=not-found".to_string());
            (0, 0)
        }
        Err(_) => {
            steps.push("get=error".to_string());
            (0, 0)
        }
    };
    let set = set_shared_data(SHARED_KEY, (n + 1).to_string().as_bytes(), cas);
    steps.push(format!("set={}", status(&set)));
    let stale = set_shared_data(SHARED_KEY, b"stale", cas);
    steps.push(format!("stale={}", status(&stale)));
    let (after, after_cas) = match get_shared_data(SHARED_KEY) {
        Ok(Some((value, cas))) => (format!("{}/ok", String::from_utf8_lossy(&value)), Some(cas)),
        Ok(None) => ("/not-found".to_string(), None),
        Err(_) => ("/error".to_string(), None),
    };
    steps.push(format!("after={after}"));
    steps.push(
        if after_cas == Some(cas) {
            "cas-same"
        } else {
            "cas-changed"
        }
        .to_string(),
    );
    let free = set_shared_data(&format!("{SHARED_KEY}.free"), b"x", 0);
    steps.push(format!("unconditional={}", status(&free)));
    ctx.add_request_header("x-shared", steps.join(" "))
}

/// Counter +1, gauge +5, histogram 7; the counter and gauge reported.
pub fn bump_metrics(ctx: &HttpContext) -> Result<()> {
    let requests = Counter::new("abi_wide_requests_total")?;
    let gauge = Gauge::new("abi_wide_gauge")?;
    let latency = Histogram::new("abi_wide_latency")?;
    requests.increment(1)?;
    gauge.add(5)?;
    latency.record(7)?;
    ctx.add_request_header("x-metric-counter", requests.value()?.to_string())?;
    ctx.add_request_header("x-metric-gauge", gauge.value()?.to_string())
}
