//! `abi-probe`: exercises much of the proxy-wasm ABI through the stock Rust SDK
//! so the host's tests can check its behaviour. The request header `x-probe`
//! picks a case; results are reported as request headers added before the
//! request goes upstream (or as a local reply). See tests/plugins/README.md
//! for the exact contract of every case.
//!
//! `on_configure` sets a 100 ms tick period and every `on_tick` increments the
//! shared-data key `probe-ticks` (a decimal string). With the configuration
//! `queue-owner` instead, the root context does not tick: it registers the queue
//! `probe-work` and records what its `on_queue_ready` calls take from it.

use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, Bytes, ContextType, LogLevel, MetricType, Status};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(ProbeRoot::default()) });
}}

const TICKS_KEY: &str = "probe-ticks";
const COUNTER_KEY: &str = "probe-counter";
const QUEUE_NAME: &str = "probe-q";
const WORK_QUEUE: &str = "probe-work";
const WORK_CALLS_KEY: &str = "probe-work-calls";
const WORK_ITEMS_KEY: &str = "probe-work-items";

#[derive(Default)]
struct ProbeRoot {
    /// `queue-owner`: the queue this root registered, and its item counter.
    work: Option<(u32, u32)>,
}

impl Context for ProbeRoot {}

impl RootContext for ProbeRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        if self.get_plugin_configuration().as_deref() == Some(b"queue-owner".as_slice()) {
            // No ticks: a queue notice must not ride on a tick's callback.
            let id = self.register_shared_queue(WORK_QUEUE);
            let items = hostcalls::define_metric(MetricType::Counter, "probe_work_items");
            self.work = items.ok().map(|items| (id, items));
        } else {
            self.set_tick_period(Duration::from_millis(100));
        }
        true
    }

    /// One call per enqueue (as Envoy posts them): counts the call, takes every item
    /// there is, and appends them to the shared-data record.
    fn on_queue_ready(&mut self, queue_id: u32) {
        let Some((id, items_metric)) = self.work.filter(|(id, _)| *id == queue_id) else {
            return;
        };
        let (calls, _) = self.get_shared_data(WORK_CALLS_KEY);
        let calls = parse_counter(calls.as_deref()) + 1;
        let _ = self.set_shared_data(WORK_CALLS_KEY, Some(calls.to_string().as_bytes()), None);
        let (seen, _) = self.get_shared_data(WORK_ITEMS_KEY);
        let mut seen = seen.unwrap_or_default();
        while let Ok(Some(item)) = self.dequeue_shared_queue(id) {
            if !seen.is_empty() {
                seen.push(b',');
            }
            seen.extend_from_slice(&item);
            let _ = hostcalls::increment_metric(items_metric, 1);
        }
        let _ = self.set_shared_data(WORK_ITEMS_KEY, Some(&seen), None);
    }

    fn on_tick(&mut self) {
        let (value, cas) = self.get_shared_data(TICKS_KEY);
        let next = parse_counter(value.as_deref()) + 1;
        // A CAS mismatch (another VM ticked at the same moment) is fine: skip.
        let _ = self.set_shared_data(TICKS_KEY, Some(next.to_string().as_bytes()), cas);
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Probe {
            case: Case::None,
            body_add: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    None,
    Body,
    RespHeaders,
    PauseResume,
    MapScope,
}

struct Probe {
    case: Case,
    /// `map-scope`: the status of adding a request header from the request body.
    body_add: Option<u32>,
}

// Raw imports: the SDK's wrappers trap on statuses this probe wants to see (BadArgument).
extern "C" {
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
}

const MAP_REQUEST_HEADERS: u32 = 0;
const MAP_RESPONSE_HEADERS: u32 = 2;

/// `proxy_get_header_map_value` as text: the value, or `status:<n>` when it is not Ok.
fn raw_header(map: u32, key: &str) -> String {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a pointer it allocated with `proxy_on_memory_allocate` (or
    // null) and its length into the two out-slots, which live on this stack frame.
    let status =
        unsafe { proxy_get_header_map_value(map, key.as_ptr(), key.len(), &mut data, &mut size) };
    if status != 0 {
        return format!("status:{status}");
    }
    if data.is_null() {
        return String::new();
    }
    // SAFETY: an Ok answer hands over `size` bytes the guest allocator gave the host.
    let bytes = unsafe { Vec::from_raw_parts(data, size, size) };
    header_value(&bytes)
}

/// The status of `proxy_add_header_map_value` (0 is Ok).
fn raw_add(map: u32, key: &str, value: &str) -> u32 {
    // SAFETY: both slices are live for the call; the host only reads them.
    unsafe { proxy_add_header_map_value(map, key.as_ptr(), key.len(), value.as_ptr(), value.len()) }
}

fn parse_counter(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// UTF-8 lossy, with control characters escaped as `\xNN` so the result is
/// always a valid header value. Printable text passes through unchanged.
fn header_value(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ((ch as u32) < 0x20 && ch != '\t') || ch as u32 == 0x7f {
            out.push_str(&format!("\\x{:02x}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

fn status_name(status: Status) -> String {
    format!("{status:?}")
}

const PROPS: &[(&str, &[&str])] = &[
    ("request.path", &["request", "path"]),
    ("request.method", &["request", "method"]),
    ("request.host", &["request", "host"]),
    ("route_name", &["route_name"]),
    ("cluster_name", &["cluster_name"]),
    ("plugin_name", &["plugin_name"]),
    ("source.address", &["source", "address"]),
    (
        "request.headers.user-agent",
        &["request", "headers", "user-agent"],
    ),
    ("x_request_id", &["x_request_id"]),
];

/// What the `connection` case reads: the protocol and scheme, and the TLS facts.
const CONNECTION_PROPS: &[(&str, &[&str])] = &[
    ("request.protocol", &["request", "protocol"]),
    ("request.scheme", &["request", "scheme"]),
    ("connection.mtls", &["connection", "mtls"]),
    (
        "connection.requested_server_name",
        &["connection", "requested_server_name"],
    ),
    ("connection.tls_version", &["connection", "tls_version"]),
    (
        "connection.subject_local_certificate",
        &["connection", "subject_local_certificate"],
    ),
    (
        "connection.dns_san_local_certificate",
        &["connection", "dns_san_local_certificate"],
    ),
    (
        "connection.subject_peer_certificate",
        &["connection", "subject_peer_certificate"],
    ),
    (
        "connection.dns_san_peer_certificate",
        &["connection", "dns_san_peer_certificate"],
    ),
    (
        "connection.uri_san_peer_certificate",
        &["connection", "uri_san_peer_certificate"],
    ),
    (
        "connection.sha256_peer_certificate_digest",
        &["connection", "sha256_peer_certificate_digest"],
    ),
];

impl Probe {
    fn prop_value(&self, path: &[&str]) -> String {
        match hostcalls::get_property(path.to_vec()) {
            Ok(Some(v)) => header_value(&v),
            Ok(None) => "<missing>".to_string(),
            Err(s) => format!("<error:{}>", status_name(s)),
        }
    }

    fn probe_props(&self) {
        for (name, path) in PROPS {
            let value = self.prop_value(path);
            self.add_http_request_header(&format!("x-prop-{name}"), &value);
        }
        self.set_property(vec!["custom_log"], Some(b"{\"k\":\"v\"}"));
        let value = self.prop_value(&["custom_log"]);
        self.add_http_request_header("x-prop-custom_log", &value);
    }

    fn probe_connection(&self) {
        for (name, path) in CONNECTION_PROPS {
            let value = self.prop_value(path);
            self.add_http_request_header(&format!("x-conn-{name}"), &value);
        }
        let names: Vec<String> = self
            .get_http_request_headers()
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| !name.starts_with("x-conn-"))
            .collect();
        self.add_http_request_header("x-conn-header-names", &names.join(","));
        for (name, header) in [
            (":scheme", "x-conn-scheme"),
            (":authority", "x-conn-authority"),
        ] {
            let value = self
                .get_http_request_header(name)
                .unwrap_or_else(|| "<missing>".to_string());
            self.add_http_request_header(header, &value);
        }
    }

    fn probe_shared(&self) {
        let (mut value, mut cas) = self.get_shared_data(COUNTER_KEY);
        if value.is_none() {
            // Create the key so that it has a real CAS to go stale.
            let _ = self.set_shared_data(COUNTER_KEY, Some(b"0"), None);
            (value, cas) = self.get_shared_data(COUNTER_KEY);
        }
        let next = (parse_counter(value.as_deref()) + 1).to_string();
        let fresh = self.set_shared_data(COUNTER_KEY, Some(next.as_bytes()), cas);
        let written = match fresh {
            Ok(()) => next.clone(),
            Err(Status::CasMismatch) => "<cas-mismatch>".to_string(),
            Err(s) => format!("<error:{}>", status_name(s)),
        };
        self.add_http_request_header("x-shared-value", &written);
        let stale = self.set_shared_data(COUNTER_KEY, Some(next.as_bytes()), cas);
        let stale = match stale {
            Err(Status::CasMismatch) => "mismatch".to_string(),
            Ok(()) => "ok".to_string(),
            Err(s) => format!("<error:{}>", status_name(s)),
        };
        self.add_http_request_header("x-shared-stale-cas", &stale);
    }

    fn probe_queue(&self) {
        let id = self.register_shared_queue(QUEUE_NAME);
        let result = match self.enqueue_shared_queue(id, Some(b"hello")) {
            Err(s) => format!("<enqueue-error:{}>", status_name(s)),
            Ok(()) => match self.dequeue_shared_queue(id) {
                Ok(Some(v)) => header_value(&v),
                Ok(None) => "<empty>".to_string(),
                Err(s) => format!("<dequeue-error:{}>", status_name(s)),
            },
        };
        self.add_http_request_header("x-queue", &result);
    }

    /// `enqueue`: puts this plugin's name on the queue `probe-work` of VM id "".
    fn probe_enqueue(&self) {
        let name = self.prop_value(&["plugin_name"]);
        let result = match self.resolve_shared_queue("", WORK_QUEUE) {
            None => "<no-queue>".to_string(),
            Some(id) => match self.enqueue_shared_queue(id, Some(name.as_bytes())) {
                Ok(()) => "ok".to_string(),
                Err(s) => format!("<enqueue-error:{}>", status_name(s)),
            },
        };
        self.add_http_request_header("x-enqueued", &result);
    }

    /// `work-seen`: what the queue owner's `on_queue_ready` calls recorded.
    fn probe_work_seen(&self) {
        let (calls, _) = self.get_shared_data(WORK_CALLS_KEY);
        let (items, _) = self.get_shared_data(WORK_ITEMS_KEY);
        let seen = format!(
            "calls={} items={}",
            parse_counter(calls.as_deref()),
            header_value(&items.unwrap_or_default())
        );
        self.add_http_request_header("x-work-seen", &seen);
    }

    fn probe_metrics(&self) {
        let counter = hostcalls::define_metric(MetricType::Counter, "probe_requests_total");
        let gauge = hostcalls::define_metric(MetricType::Gauge, "probe_gauge");
        let hist = hostcalls::define_metric(MetricType::Histogram, "probe_hist");
        let (counter, gauge, hist) = (counter.unwrap(), gauge.unwrap(), hist.unwrap());
        let mut errors = Vec::new();
        if let Err(s) = hostcalls::increment_metric(counter, 1) {
            errors.push(format!("increment:{}", status_name(s)));
        }
        if let Err(s) = hostcalls::record_metric(gauge, 42) {
            errors.push(format!("gauge:{}", status_name(s)));
        }
        if let Err(s) = hostcalls::record_metric(hist, 7) {
            errors.push(format!("hist:{}", status_name(s)));
        }
        let value = match hostcalls::get_metric(counter) {
            Ok(v) => v.to_string(),
            Err(s) => format!("<error:{}>", status_name(s)),
        };
        self.add_http_request_header("x-metric-counter", &value);
        let gauge_value = match hostcalls::get_metric(gauge) {
            Ok(v) => v.to_string(),
            Err(s) => format!("<error:{}>", status_name(s)),
        };
        self.add_http_request_header("x-metric-gauge", &gauge_value);
        if !errors.is_empty() {
            self.add_http_request_header("x-metric-errors", &errors.join(","));
        }
    }

    fn probe_foreign(&self) {
        match hostcalls::call_foreign_function("get_log_level", None) {
            Ok(v) => {
                let len = v.as_ref().map_or(0, Bytes::len);
                self.add_http_request_header("x-foreign-len", &len.to_string());
            }
            Err(s) => self.add_http_request_header("x-foreign-error", &status_name(s)),
        }
    }

    /// `map-scope` in `on_done` and `on_log`: which maps and properties are readable, and
    /// whether the request headers take an add.
    fn map_scope_line(&self) -> String {
        let path = match self.get_property(vec!["request", "path"]) {
            Some(path) => header_value(&path),
            None => "<missing>".to_string(),
        };
        let number = |path: Vec<&str>| match self.get_property(path) {
            Some(bytes) if bytes.len() == 8 => {
                let mut le = [0u8; 8];
                le.copy_from_slice(&bytes);
                i64::from_le_bytes(le).to_string()
            }
            Some(bytes) => header_value(&bytes),
            None => "<missing>".to_string(),
        };
        format!(
            "request x-probe={} response :status={} request.path={} add={} \
             response.code={} request.size={} response.code_details={}",
            raw_header(MAP_REQUEST_HEADERS, "x-probe"),
            raw_header(MAP_RESPONSE_HEADERS, ":status"),
            path,
            raw_add(MAP_REQUEST_HEADERS, "x-late", "1"),
            number(vec!["response", "code"]),
            number(vec!["request", "size"]),
            number(vec!["response", "code_details"]),
        )
    }

    /// `map-scope` at response headers: what of the request (its headers continued long
    /// ago) the plugin can still reach, reported as response headers.
    fn report_map_scope(&self) {
        let header = raw_header(MAP_REQUEST_HEADERS, "x-probe");
        self.add_http_response_header("x-scope-request-header", &header);
        let pairs = hostcalls::get_map(proxy_wasm::types::MapType::HttpRequestHeaders)
            .map_or(0, |pairs| pairs.len());
        self.add_http_response_header("x-scope-request-pairs", &pairs.to_string());
        let path = match self.get_property(vec!["request", "path"]) {
            Some(path) => header_value(&path),
            None => "<missing>".to_string(),
        };
        self.add_http_response_header("x-scope-request-path", &path);
        if let Some(status) = self.body_add {
            self.add_http_response_header("x-scope-body-add", &format!("status:{status}"));
        }
        let own = raw_header(MAP_RESPONSE_HEADERS, "x-scope-request-pairs");
        self.add_http_response_header("x-scope-response-header", &own);
    }

    fn probe_callout(&mut self) -> Action {
        match self.dispatch_http_call(
            "callout",
            vec![
                (":method", "GET"),
                (":path", "/probe"),
                (":authority", "callout"),
            ],
            None,
            vec![],
            Duration::from_secs(5),
        ) {
            Ok(_) => {
                self.case = Case::PauseResume;
                Action::Pause
            }
            Err(s) => {
                self.add_http_request_header(
                    "x-callout-status",
                    &format!("dispatch-error:{}", status_name(s)),
                );
                Action::Continue
            }
        }
    }
}

impl Context for Probe {
    fn on_done(&mut self) -> bool {
        if self.case == Case::MapScope {
            log::info!("map-scope on_done: {}", self.map_scope_line());
        }
        true
    }

    fn on_http_call_response(
        &mut self,
        _token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if num_headers == 0 {
            self.add_http_request_header("x-callout-status", "failed");
        } else {
            let status = self
                .get_http_call_response_header(":status")
                .unwrap_or_else(|| "<missing>".to_string());
            self.add_http_request_header("x-callout-status", &header_value(status.as_bytes()));
            let body = self
                .get_http_call_response_body(0, body_size)
                .unwrap_or_default();
            self.add_http_request_header("x-callout-body", &header_value(&body));
        }
        self.resume_http_request();
        // Resumed: the request headers are no longer the plugin's (Envoy answers
        // BadArgument), so this header must not reach the upstream.
        raw_add(MAP_REQUEST_HEADERS, "x-after-resume", "1");
    }
}

impl HttpContext for Probe {
    fn on_log(&mut self) {
        if self.case == Case::MapScope {
            log::info!("map-scope on_log: {}", self.map_scope_line());
        }
    }

    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(case) = self.get_http_request_header("x-probe") else {
            return Action::Continue;
        };
        match case.as_str() {
            "props" => self.probe_props(),
            "connection" => self.probe_connection(),
            "shared" => self.probe_shared(),
            "queue" => self.probe_queue(),
            "enqueue" => self.probe_enqueue(),
            "work-seen" => self.probe_work_seen(),
            "metrics" => self.probe_metrics(),
            "local-reply" => {
                self.send_http_response(418, vec![("x-local", "yes")], Some(b"teapot"));
                return Action::Pause;
            }
            "body" => {
                // The body will change size: drop the stale length, as real
                // body-rewriting plugins do.
                self.remove_http_request_header("content-length");
                self.case = Case::Body;
            }
            "resp-headers" => self.case = Case::RespHeaders,
            "map-scope" => self.case = Case::MapScope,
            "rewrite" => {
                // The route is matched again with the new path (Envoy clears its route cache).
                if self.get_http_request_header("x-keep-route").is_some() {
                    // Higress: this plugin's header changes leave the route as it is.
                    self.set_property(vec!["clear_route_cache"], Some(b"off"));
                }
                let to = self.get_http_request_header("x-rewrite-to");
                self.set_http_request_header(":path", Some(to.as_deref().unwrap_or("/")));
                let route = self
                    .get_property(vec!["route_name"])
                    .map_or("<missing>".to_string(), |r| header_value(&r));
                self.add_http_request_header("x-route-before", &route);
            }
            "log-level" => {
                let level = hostcalls::get_log_level().unwrap();
                self.add_http_request_header("x-log-level", &(level as u32).to_string());
            }
            "foreign" => self.probe_foreign(),
            "ticks" => {
                let (value, _) = self.get_shared_data(TICKS_KEY);
                let ticks = parse_counter(value.as_deref());
                self.add_http_request_header("x-ticks", &ticks.to_string());
            }
            "pause-resume" => return self.probe_callout(),
            other => {
                self.add_http_request_header(
                    "x-probe-error",
                    &format!("unknown case {}", header_value(other.as_bytes())),
                );
            }
        }
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.case == Case::MapScope && self.body_add.is_none() {
            self.body_add = Some(raw_add(MAP_REQUEST_HEADERS, "x-from-body", "1"));
        }
        if self.case != Case::Body {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        // start=0, size=whole body: replace everything.
        self.set_http_request_body(0, body_size, b"replaced");
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match self.case {
            Case::RespHeaders => {
                self.add_http_response_header("x-resp-probe", "1");
                self.remove_http_response_header("server");
            }
            Case::Body => self.remove_http_response_header("content-length"),
            Case::MapScope => self.report_map_scope(),
            _ => {}
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.case != Case::Body {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        // start >= length, size 0: append.
        self.set_http_response_body(body_size, 0, b"-tail");
        Action::Continue
    }
}
