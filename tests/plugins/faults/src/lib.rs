//! `faults`: misbehaves on demand, to test the host's isolation. Driven by the
//! request header `x-fault`:
//! - `trap`: `panic!("fault requested")` → the proxy-wasm panic hook logs at
//!   Critical, then the module aborts with a wasm `unreachable` trap.
//! - `loop`: spins forever (only fuel/epoch interruption can stop it).
//! - `oob`: calls the raw imports `proxy_get_header_map_value` (key pointer
//!   0xFFFF_FFF0, size 64) and `proxy_log` (message pointer 0xFFFF_FFF0, size
//!   64) with out-of-bounds guest pointers, adds request headers
//!   `x-oob-status: <status of the header-map call>` and
//!   `x-oob-log-status: <status of the log call>`, then continues. A correct
//!   host answers 6 (INVALID_MEMORY_ACCESS) to both instead of crashing.
//! - `oom`: allocates 1 MiB chunks (each filled) until allocation fails; the
//!   Rust alloc-error handler then aborts (`unreachable` trap) once the
//!   host's memory limit stops `memory.grow`.
//! - `trap-refuse-N`: stores N in the shared data `faults.refusals`, then traps: the
//!   next N starts of the plugin (its rebuilds) reject their configuration.
//! - `recurse`: recurses without end (a stack overflow trap).
//! - `grow`: `memory.grow` by 64 MiB at a time until it fails; adds the request header
//!   `x-grow: <what the last memory.grow returned>` (-1 once the VM's limit stops it).
//! - `header-bomb`: adds request headers `x-bomb-N` until the host refuses one; logs
//!   `header bomb stopped after N headers with status S` and continues.
//! - `body-bomb`: appends 1 MiB to the request body until the host refuses it; adds
//!   `x-body-bomb: <MiB appended> <status of the refused call>` and empties the body again.
//! - `reply-twice`: sends two local replies (403 then 500) from one callback.
//! - `resume-unpaused`: resumes a request that is not paused, then continues.
//! - `pause-forever`: pauses the request and never resumes it.
//! - `wasi`: tries to read `/etc/hostname`, the environment variable `HOME` and to
//!   list `/`; adds `x-wasi-file`, `x-wasi-env`, `x-wasi-dir` (`denied` or what it got).
//! - `stderr-flood`: writes one 1 MiB line to stderr, then continues.
//! - `release`: sets the shared data `faults.released`, then continues (see `tick-wait`).
//! - anything else, or no header: Continue.
//!
//! Its configuration picks faults of the root context when it contains (anywhere, e.g.
//! `{"fault": "tick-panic"}`) `configure-panic`: a panic in `on_configure`;
//! `configure-loop`: it spins there; `tick-panic`: a panic in every `on_tick` (20 ms);
//! `tick-wait`: the first `on_tick` (20 ms) computes until another VM sets the shared data
//! `faults.released` (a request with `x-fault: release`), logging `faults tick waits for a
//! release` and then `faults tick released`; later ticks do nothing.
//!
//! Every request logs `faults plugin saw <value>` at Info (`<none>` when the
//! header is absent).

use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(FaultsRoot::default()) });
}}

const REFUSALS: &str = "faults.refusals";
const RELEASED: &str = "faults.released";

/// What `on_tick` does.
#[derive(Default)]
enum Tick {
    #[default]
    Panic,
    WaitForRelease,
}

#[derive(Default)]
struct FaultsRoot {
    tick: Tick,
}

impl Context for FaultsRoot {}

impl RootContext for FaultsRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let config = String::from_utf8_lossy(&config);
        if config.contains("configure-panic") {
            panic!("on_configure fault requested");
        } else if config.contains("configure-loop") {
            spin();
        } else if config.contains("tick-panic") {
            self.set_tick_period(Duration::from_millis(20));
        } else if config.contains("tick-wait") {
            self.tick = Tick::WaitForRelease;
            self.set_tick_period(Duration::from_millis(20));
        }
        let refusals = self
            .get_shared_data(REFUSALS)
            .0
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        if refusals > 0 {
            let left = (refusals - 1).to_string();
            let _ = self.set_shared_data(REFUSALS, Some(left.as_bytes()), None);
            log::error!("faults refuses its configuration ({left} refusals left)");
            return false;
        }
        true
    }

    fn on_tick(&mut self) {
        match self.tick {
            Tick::Panic => panic!("on_tick fault requested"),
            Tick::WaitForRelease => {
                if self.get_shared_data(RELEASED).0.is_some() {
                    return;
                }
                log::info!("faults tick waits for a release");
                while self.get_shared_data(RELEASED).0.is_none() {
                    std::hint::spin_loop();
                }
                log::info!("faults tick released");
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Faults))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

// The proxy-wasm crate imports these same names from "env" (with enum-typed
// arguments that lower to the same i32s), so the wasm import is shared. The
// status is taken as a plain u32 here because 6 is not a variant of the SDK's
// `Status` enum.
#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_set_buffer_bytes(
        buffer_type: u32,
        start: usize,
        size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
}

const BAD_PTR: usize = 0xFFFF_FFF0;
const MAP_HTTP_REQUEST_HEADERS: u32 = 0;
const LOG_INFO: u32 = 2;
const BUFFER_HTTP_REQUEST_BODY: u32 = 0;

struct Faults;

impl Context for Faults {}

impl HttpContext for Faults {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let fault = self.get_http_request_header("x-fault");
        log::info!("faults plugin saw {}", fault.as_deref().unwrap_or("<none>"));
        match fault.as_deref() {
            Some("trap") => panic!("fault requested"),
            Some("loop") => spin(),
            Some("oob") => {
                let (map_status, log_status) = oob_calls();
                self.add_http_request_header("x-oob-status", &map_status.to_string());
                self.add_http_request_header("x-oob-log-status", &log_status.to_string());
                Action::Continue
            }
            Some("oom") => exhaust_memory(),
            Some(refuse) if refuse.starts_with("trap-refuse-") => {
                let count = &refuse["trap-refuse-".len()..];
                let _ = self.set_shared_data(REFUSALS, Some(count.as_bytes()), None);
                panic!("fault requested; the next {count} starts refuse");
            }
            Some("recurse") => {
                let depth = recurse(std::hint::black_box(1));
                self.add_http_request_header("x-depth", &depth.to_string());
                Action::Continue
            }
            Some("grow") => {
                let last = grow_until_refused();
                self.add_http_request_header("x-grow", &last.to_string());
                Action::Continue
            }
            Some("header-bomb") => {
                let (count, status) = header_bomb();
                log::info!("header bomb stopped after {count} headers with status {status}");
                Action::Continue
            }
            Some("body-bomb") => {
                let (mib, status) = body_bomb();
                self.add_http_request_header("x-body-bomb", &format!("{mib} {status}"));
                Action::Continue
            }
            Some("reply-twice") => {
                self.send_http_response(403, vec![], Some(b"first"));
                self.send_http_response(500, vec![], Some(b"second"));
                Action::Pause
            }
            Some("resume-unpaused") => {
                self.resume_http_request();
                Action::Continue
            }
            Some("pause-forever") => Action::Pause,
            Some("release") => {
                let _ = self.set_shared_data(RELEASED, Some(b"1"), None);
                Action::Continue
            }
            Some("stderr-flood") => {
                // One write, as one line.
                let line = format!("flood {}\n", "x".repeat(1 << 20));
                let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
                Action::Continue
            }
            Some("wasi") => {
                let file = std::fs::read_to_string("/etc/hostname")
                    .map_or_else(|_| "denied".to_string(), |t| t.trim().to_string());
                let env = std::env::var("HOME").unwrap_or_else(|_| "denied".into());
                let dir = std::fs::read_dir("/").map_or_else(
                    |_| "denied".to_string(),
                    |d| format!("{} entries", d.count()),
                );
                self.add_http_request_header("x-wasi-file", &file);
                self.add_http_request_header("x-wasi-env", &env);
                self.add_http_request_header("x-wasi-dir", &dir);
                Action::Continue
            }
            _ => Action::Continue,
        }
    }
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth; 64];
    std::hint::black_box(&mut frame);
    recurse(frame[7] + 1) + frame[3]
}

/// Grows the memory by 64 MiB at a time until `memory.grow` fails; what it returned last.
fn grow_until_refused() -> isize {
    const PAGES: usize = 1024; // 64 MiB
    loop {
        let before = core::arch::wasm32::memory_grow(0, PAGES);
        if before == usize::MAX {
            return -1;
        }
    }
}

/// Adds `x-bomb-N` request headers until the host refuses one.
fn header_bomb() -> (u32, u32) {
    let mut count = 0u32;
    loop {
        let name = format!("x-bomb-{count}");
        let value = "v".repeat(64);
        let status = unsafe {
            proxy_add_header_map_value(
                MAP_HTTP_REQUEST_HEADERS,
                name.as_ptr(),
                name.len(),
                value.as_ptr(),
                value.len(),
            )
        };
        if status != 0 || count >= 1_000_000 {
            return (count, status);
        }
        count += 1;
    }
}

/// Appends 1 MiB to the request body until the host refuses it, then empties the body;
/// the MiB appended and the refusal's status.
fn body_bomb() -> (u32, u32) {
    let chunk = vec![b'b'; 1 << 20];
    let mut appended = 0u32;
    let status = loop {
        let status = unsafe {
            proxy_set_buffer_bytes(
                BUFFER_HTTP_REQUEST_BODY,
                usize::MAX,
                0,
                chunk.as_ptr(),
                chunk.len(),
            )
        };
        if status != 0 || appended >= 1024 {
            break status;
        }
        appended += 1;
    };
    unsafe { proxy_set_buffer_bytes(BUFFER_HTTP_REQUEST_BODY, 0, usize::MAX, chunk.as_ptr(), 0) };
    (appended, status)
}

#[inline(never)]
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        std::hint::black_box(&mut counter);
        counter = counter.wrapping_add(1);
    }
}

fn oob_calls() -> (u32, u32) {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    let map_status = unsafe {
        proxy_get_header_map_value(
            MAP_HTTP_REQUEST_HEADERS,
            BAD_PTR as *const u8,
            64,
            &mut data,
            &mut size,
        )
    };
    if map_status == 0 && !data.is_null() {
        // A host that wrongly succeeded handed us an allocation: free it.
        drop(unsafe { Vec::from_raw_parts(data, size, size) });
    }
    let log_status = unsafe { proxy_log(LOG_INFO, BAD_PTR as *const u8, 64) };
    (map_status, log_status)
}

#[inline(never)]
fn exhaust_memory() -> ! {
    const MIB: usize = 1 << 20;
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; MIB];
        // Touch every page with a non-zero byte so the memory is really used.
        for i in (0..MIB).step_by(4096) {
            chunk[i] = (hoard.len() as u8) | 1;
        }
        hoard.push(std::hint::black_box(chunk));
    }
}
