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
//! - anything else, or no header: Continue.
//!
//! Every request logs `faults plugin saw <value>` at Info (`<none>` when the
//! header is absent).

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_http_context(|_, _| -> Box<dyn HttpContext> { Box::new(Faults) });
}}

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
}

const BAD_PTR: usize = 0xFFFF_FFF0;
const MAP_HTTP_REQUEST_HEADERS: u32 = 0;
const LOG_INFO: u32 = 2;

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
            _ => Action::Continue,
        }
    }
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
