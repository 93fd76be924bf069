//! trailer-probe: a plugin on every HTTP phase, headers, bodies and trailers, for the gRPC and
//! trailer tests. It writes down the phases it saw and shows them (and what it read of the
//! trailers) in headers and trailers; its contract is in `tests/plugins/README.md`.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Probe::default()))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

// Raw import: the stock SDK's `send_http_response` gives no gRPC status.
extern "C" {
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
}

/// The pairs wire encoding of one header.
fn one_header(name: &str, value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.extend_from_slice(value.as_bytes());
    out.push(0);
    out
}

/// One phase as it is written down; body calls in a row are one entry.
enum Seen {
    Headers(&'static str, bool),
    Body(&'static str, usize, bool),
    Trailers(&'static str, usize),
}

impl Seen {
    fn text(&self) -> String {
        match self {
            Seen::Headers(name, eos) => format!("{name}(eos={})", *eos as u8),
            Seen::Body(name, bytes, eos) => format!("{name}(bytes={bytes},eos={})", *eos as u8),
            Seen::Trailers(name, n) => format!("{name}(n={n})"),
        }
    }
}

#[derive(Default)]
struct Probe {
    seen: Vec<Seen>,
    /// `x-hold-body`: the request body is held until its trailers.
    hold: bool,
    /// `x-set-grpc-status`: the response's `grpc-status` trailer becomes this.
    set_grpc_status: Option<String>,
}

impl Probe {
    /// Writes down a body call. `buffered`: the plugin held the data of the calls before, so
    /// `size` is all of it, not this chunk's.
    fn body(&mut self, name: &'static str, size: usize, eos: bool, buffered: bool) {
        if let Some(Seen::Body(last, bytes, end)) = self.seen.last_mut() {
            if *last == name {
                *bytes = if buffered { size } else { *bytes + size };
                *end |= eos;
                return;
            }
        }
        self.seen.push(Seen::Body(name, size, eos));
    }

    fn log(&self) -> String {
        let entries: Vec<String> = self.seen.iter().map(Seen::text).collect();
        entries.join(" ")
    }

    fn reply(&self, status: &str) -> Action {
        let status = status.parse().unwrap_or(500);
        let grpc = self
            .get_http_request_header("x-reply-grpc")
            .and_then(|g| g.parse().ok())
            .unwrap_or(-1);
        let details = "trailer_probe";
        let body = "denied by trailer-probe";
        let headers = one_header("x-replied", "trailer-probe");
        // SAFETY: the pointers and lengths describe live buffers of this function.
        unsafe {
            proxy_send_local_response(
                status,
                details.as_ptr(),
                details.len(),
                body.as_ptr(),
                body.len(),
                headers.as_ptr(),
                headers.len(),
                grpc,
            );
        }
        Action::Pause
    }
}

impl Context for Probe {}

impl HttpContext for Probe {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.seen.push(Seen::Headers("reqh", end_of_stream));
        if let Some(status) = self.get_http_request_header("x-reply") {
            return self.reply(&status);
        }
        self.hold = self.get_http_request_header("x-hold-body").is_some();
        self.set_grpc_status = self.get_http_request_header("x-set-grpc-status");
        let te = self.get_http_request_header("te");
        self.add_http_request_header("x-probe-te", te.as_deref().unwrap_or("none"));
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.body("reqb", body_size, end_of_stream, self.hold);
        if self.hold && !end_of_stream {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_http_request_trailers(&mut self, num_trailers: usize) -> Action {
        self.seen.push(Seen::Trailers("reqt", num_trailers));
        let names: Vec<String> = self
            .get_http_request_trailers()
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        self.add_http_request_trailer("x-probe-saw", &names.join(","));
        if self.hold {
            let held = match self.seen.iter().rev().find_map(|s| match s {
                Seen::Body("reqb", bytes, _) => Some(*bytes),
                _ => None,
            }) {
                Some(bytes) => self.get_http_request_body(0, bytes).unwrap_or_default(),
                None => Vec::new(),
            };
            let mut changed = b"held:".to_vec();
            changed.extend_from_slice(&held);
            self.set_http_request_body(0, held.len(), &changed);
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.seen.push(Seen::Headers("resh", end_of_stream));
        self.add_http_response_header("x-probe-phases", &self.log());
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.body("resb", body_size, end_of_stream, false);
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, num_trailers: usize) -> Action {
        self.seen.push(Seen::Trailers("rest", num_trailers));
        let status = self.get_http_response_trailer("grpc-status");
        self.add_http_response_trailer("x-probe-grpc-status", status.as_deref().unwrap_or("none"));
        if let Some(new) = self.set_grpc_status.clone() {
            self.set_http_response_trailer("grpc-status", Some(&new));
            self.set_http_response_trailer("grpc-message", Some("changed by trailer-probe"));
        }
        self.add_http_response_trailer("x-probe-phases", &self.log());
        Action::Continue
    }
}
