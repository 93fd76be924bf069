//! wasmgate-sdk, advanced features through `tests/plugins/sdk-probe`: tick functions (per
//! function period, dedupe), leader election (lease keyed by plugin name; two VMs sharing
//! data), `route_call` (request rewrite and response interception), VM rebuild options,
//! metrics helpers, user attributes in `ai_log`, and non-UTF-8 header values.

use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use wasmgate_host::Shared;
use wasmgate_testkit::examples::fixture;
use wasmgate_testkit::{LogLevel, StreamState, TestHost};

const CONFIG: &str = r#"{"name": "g"}"#;
const LEASE_KEY: &str = "higress_wasm_vm_lease:sdk-probe";

fn probe_named(plugin_name: &str, shared: Option<Shared>) -> TestHost {
    let mut builder = TestHost::builder(fixture("sdk-probe"))
        .plugin_name(plugin_name)
        .config_json(CONFIG);
    if let Some(shared) = shared {
        builder = builder.shared(shared);
    }
    builder.start().expect("plugin starts")
}

fn probe() -> TestHost {
    probe_named("sdk-probe", None)
}

fn counter(host: &TestHost, name: &str) -> i64 {
    host.metric(name).map(|m| m.value).unwrap_or(0)
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs one request to `path` and returns the request header `name` the plugin set.
fn ask(host: &mut TestHost, path: &str, name: &str) -> Option<String> {
    host.request_headers(&[(":path", path)], true).unwrap();
    let value = host.request_header(name);
    host.complete().unwrap();
    value
}

fn lease(host: &TestHost) -> Value {
    let raw = host.shared_data(LEASE_KEY).expect("the lease exists");
    serde_json::from_slice(&raw).expect("the lease is JSON")
}

// ----- ticks -----

#[test]
fn tick_functions_registered_at_start_set_the_host_tick_to_100_ms() {
    let host = probe();
    assert_eq!(host.tick_period(), Duration::from_millis(100));
}

#[test]
fn each_tick_function_runs_when_its_own_period_has_passed() {
    let mut host = probe();
    // Right after the start no period has passed.
    host.tick().unwrap();
    assert_eq!(counter(&host, "probe.tick.fast"), 0);

    sleep(Duration::from_millis(120));
    host.tick().unwrap();
    assert_eq!(counter(&host, "probe.tick.fast"), 1);
    // The 60 s function has not come due.
    assert_eq!(counter(&host, "probe.tick.slow"), 0);

    // An immediate second tick: the 100 ms period has not passed again.
    host.tick().unwrap();
    assert_eq!(counter(&host, "probe.tick.fast"), 1);

    sleep(Duration::from_millis(120));
    host.tick().unwrap();
    assert_eq!(counter(&host, "probe.tick.fast"), 2);
    assert_eq!(counter(&host, "probe.tick.slow"), 0);
}

#[test]
fn duplicate_registrations_are_deduped_for_named_ticks_only() {
    let mut host = probe();
    sleep(Duration::from_millis(120));
    host.tick().unwrap();
    // A named tick registered twice runs once.
    assert_eq!(counter(&host, "probe.tick.named"), 1);
    // Two unnamed registrations are two functions (as in wasm-go).
    assert_eq!(counter(&host, "probe.tick.dup"), 2);
}

// ----- leader election -----

#[test]
fn a_single_vm_takes_the_lease_keyed_by_plugin_name_and_renews_it() {
    let mut host = probe();
    let infos = host.log_messages(LogLevel::Info);
    assert!(
        infos.iter().any(|m| m.ends_with("leader at start: true")),
        "{infos:?}"
    );
    assert_eq!(
        ask(&mut host, "/leader", "x-leader").as_deref(),
        Some("true")
    );
    assert_eq!(
        ask(&mut host, "/leader", "x-lease-key").as_deref(),
        Some(LEASE_KEY)
    );
    let vm_id = ask(&mut host, "/leader", "x-vm-id").unwrap();
    assert_eq!(vm_id.len(), 36, "{vm_id}");
    let taken = lease(&host);
    assert_eq!(taken["vmID"], vm_id.as_str());
    let at = taken["timestamp"].as_u64().unwrap();
    assert!(at.abs_diff(unix_seconds()) <= 2, "{taken}");

    // An old lease of ours (30 s, not expired) is renewed by the next tick.
    let old = format!(
        r#"{{"vmID":"{vm_id}","timestamp":{}}}"#,
        unix_seconds() - 30
    );
    host.shared()
        .set("", LEASE_KEY.as_bytes(), old.as_bytes(), 0);
    sleep(Duration::from_millis(120));
    host.tick().unwrap();
    let renewed = lease(&host)["timestamp"].as_u64().unwrap();
    assert!(renewed.abs_diff(unix_seconds()) <= 2, "{renewed}");
    assert_eq!(
        ask(&mut host, "/leader", "x-leader").as_deref(),
        Some("true")
    );
}

#[test]
fn two_vms_sharing_data_elect_one_leader_and_an_expired_lease_moves() {
    let shared = Shared::default();
    let mut a = probe_named("sdk-probe", Some(shared.clone()));
    let mut b = probe_named("sdk-probe", Some(shared.clone()));
    assert_eq!(ask(&mut a, "/leader", "x-leader").as_deref(), Some("true"));
    assert_eq!(ask(&mut b, "/leader", "x-leader").as_deref(), Some("false"));
    let a_id = ask(&mut a, "/leader", "x-vm-id").unwrap();
    let b_id = ask(&mut b, "/leader", "x-vm-id").unwrap();
    assert_ne!(a_id, b_id);

    // B's election while A's lease is fresh changes nothing; A renews.
    assert_eq!(ask(&mut b, "/elect", "x-leader").as_deref(), Some("false"));
    assert_eq!(ask(&mut a, "/elect", "x-leader").as_deref(), Some("true"));
    assert_eq!(lease(&a)["vmID"], a_id.as_str());

    // A's lease expires (older than 60 s): B takes it over, and A no longer leads.
    let stale = format!(r#"{{"vmID":"{a_id}","timestamp":{}}}"#, unix_seconds() - 61);
    shared.set("", LEASE_KEY.as_bytes(), stale.as_bytes(), 0);
    assert_eq!(ask(&mut b, "/elect", "x-leader").as_deref(), Some("true"));
    assert_eq!(lease(&b)["vmID"], b_id.as_str());
    assert_eq!(ask(&mut a, "/elect", "x-leader").as_deref(), Some("false"));

    // Another plugin in the same gateway has its own lease (wasm-go's shared empty
    // fingerprint would make it a follower here).
    let mut other = probe_named("other-probe", Some(shared.clone()));
    assert_eq!(
        ask(&mut other, "/leader", "x-lease-key").as_deref(),
        Some("higress_wasm_vm_lease:other-probe")
    );
    assert_eq!(
        ask(&mut other, "/leader", "x-leader").as_deref(),
        Some("true")
    );
}

// ----- route_call -----

fn start_route_call(host: &mut TestHost) {
    let state = host
        .request_headers(
            &[
                (":path", "/route-call"),
                (":method", "GET"),
                (":authority", "front.example"),
                ("accept-encoding", "gzip"),
                ("content-length", "5"),
            ],
            false,
        )
        .unwrap();
    assert!(matches!(state, StreamState::HoldingHeaders(_)), "{state:?}");
    let state = host.request_body(b"hello", true).unwrap();
    assert_eq!(state, StreamState::Running);
}

#[test]
fn route_call_rewrites_the_request() {
    let mut host = probe();
    start_route_call(&mut host);
    let header = |name: &str| host.request_header(name);
    assert_eq!(header(":method").as_deref(), Some("POST"));
    // Escaped path and query kept; the fragment dropped (wasm-go sends it).
    assert_eq!(header(":path").as_deref(), Some("/v1/chat%2Fx?x=1"));
    assert_eq!(header(":authority").as_deref(), Some("backend.example"));
    assert_eq!(header("x-envoy-original-method").as_deref(), Some("GET"));
    assert_eq!(
        header("x-envoy-original-path").as_deref(),
        Some("/route-call")
    );
    assert_eq!(
        header("x-envoy-original-host").as_deref(),
        Some("front.example")
    );
    assert_eq!(header("x-routed").as_deref(), Some("1"));
    assert_eq!(header("accept-encoding"), None);
    assert_eq!(header("content-length"), None);
    assert_eq!(host.request_body_bytes(), b"routed:hello");
}

#[test]
fn route_call_intercepts_a_response_with_a_body() {
    let mut host = probe();
    start_route_call(&mut host);
    let state = host
        .response_headers(&[(":status", "201"), ("content-length", "3")], false)
        .unwrap();
    assert_eq!(
        state,
        StreamState::HoldingHeaders(wasmgate_testkit::Phase::ResponseHeaders)
    );
    // The body is buffered until its end, then the callback rewrites it.
    let state = host.response_body(b"ab", false).unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    assert_eq!(host.response_body_bytes(), b"ab");
    let state = host.response_body(b"c", true).unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.response_body_bytes(), b"intercepted:201:abc");
    assert_eq!(
        host.response_header("x-route-status").as_deref(),
        Some("201")
    );
    assert_eq!(host.response_header("content-length"), None);
    // The plugin's own response handlers did not run.
    assert_eq!(host.response_header("x-seen"), None);
}

#[test]
fn route_call_intercepts_a_response_ended_by_trailers() {
    let mut host = probe();
    start_route_call(&mut host);
    host.response_headers(&[(":status", "200")], false).unwrap();
    let state = host.response_body(b"ab", false).unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    // No end of stream in the body: the trailers end the message, and the callback runs.
    let state = host.response_trailers(&[("x-t", "1")]).unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.response_body_bytes(), b"intercepted:200:ab");
}

#[test]
fn route_call_intercepts_headers_only_responses() {
    let mut host = probe();
    start_route_call(&mut host);
    let state = host.response_headers(&[(":status", "503")], true).unwrap();
    let StreamState::Replied(reply) = state else {
        panic!("expected a local reply, got {state:?}");
    };
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"route call answered 503");
    assert_eq!(
        reply.headers.get(b"x-route-status").as_deref(),
        Some(&b"503"[..])
    );
}

#[test]
fn route_call_is_refused_outside_the_body_phase_or_without_a_stopped_header_phase() {
    let mut host = probe();
    let state = host
        .request_headers(&[(":path", "/route-call-early")], false)
        .unwrap();
    let StreamState::Replied(reply) = state else {
        panic!("expected a 500, got {state:?}");
    };
    assert_eq!(reply.status, 500);
    host.complete().unwrap();

    let state = host
        .request_headers(&[(":path", "/route-call-nostop")], false)
        .unwrap();
    assert_eq!(state, StreamState::Running);
    let state = host.request_body(b"x", true).unwrap();
    let StreamState::Replied(reply) = state else {
        panic!("expected a 500, got {state:?}");
    };
    assert_eq!(reply.status, 500);
    let errors = host.log_messages(LogLevel::Error);
    assert!(
        errors
            .iter()
            .any(|m| m.contains("only allowed in the request body phase")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|m| m.contains("request headers phase to have stopped")),
        "{errors:?}"
    );
}

// ----- rebuild options -----

#[test]
fn rebuild_is_requested_after_n_requests() {
    let mut host = probe();
    for _ in 0..4 {
        ask(&mut host, "/", "x-config");
    }
    assert!(!host.vm().rebuild_requested());
    ask(&mut host, "/", "x-config");
    assert!(host.vm().rebuild_requested());
    let infos = host.log_messages(LogLevel::Info);
    assert!(
        infos
            .iter()
            .any(|m| m.ends_with("asking for a VM rebuild after 5 requests")),
        "{infos:?}"
    );
}

#[test]
fn rebuild_is_requested_above_the_memory_limit() {
    let mut host = probe();
    ask(&mut host, "/grow", "x-config");
    assert!(!host.vm().rebuild_requested());
    assert!(host.vm().memory_size() >= 64 << 20);
    // The next request's check reads `plugin_vm_memory`.
    ask(&mut host, "/", "x-config");
    assert!(host.vm().rebuild_requested());
    let infos = host.log_messages(LogLevel::Info);
    assert!(
        infos
            .iter()
            .any(|m| m.contains("asking for a VM rebuild after") && m.ends_with("bytes of memory")),
        "{infos:?}"
    );
}

// ----- metrics -----

#[test]
fn metrics_helpers_define_once_and_update_by_handle() {
    let mut host = probe();
    assert_eq!(
        ask(&mut host, "/metrics", "x-requests").as_deref(),
        Some("1")
    );
    assert_eq!(
        ask(&mut host, "/metrics", "x-requests").as_deref(),
        Some("2")
    );
    let requests = host.metric("probe.requests").unwrap();
    assert_eq!(requests.kind, wasmgate_host::abi::MetricType::Counter);
    assert_eq!(requests.value, 2);
    let gauge = host.metric("probe.gauge").unwrap();
    assert_eq!(gauge.kind, wasmgate_host::abi::MetricType::Gauge);
    assert_eq!(gauge.value, 40);
    let latency = host.metric("probe.latency").unwrap();
    assert_eq!(latency.kind, wasmgate_host::abi::MetricType::Histogram);
    assert_eq!(latency.count, 4);
    assert_eq!(latency.samples, vec![7, 9, 7, 9]);
}

// ----- user attributes -----

#[test]
fn user_attributes_reach_ai_log_too() {
    let mut host = probe();
    host.request_headers(&[(":path", "/attrs")], true).unwrap();
    host.response_headers(&[], true).unwrap();
    let log = host.property("ai_log").expect("ai_log set");
    assert_eq!(
        String::from_utf8(log).unwrap(),
        r#"{\"path\":\"/attrs\",\"probe\":\"g\",\"status\":200}"#
    );
}

// ----- non-UTF-8 headers -----

#[test]
fn non_utf8_header_values_are_read_without_panicking() {
    let mut host = probe();
    let state = host
        .request_headers_bytes(
            &[
                (b":path", b"/caf\xe9"),
                (b"x-binary", b"\xff\xfeok"),
                (b"x-latin1", b"na\xefve"),
            ],
            true,
        )
        .unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(
        host.request_header("x-binary-lossy").as_deref(),
        Some("\u{fffd}\u{fffd}ok")
    );
    // :method :scheme :authority defaulted, plus :path, x-binary, x-latin1, x-config,
    // x-binary-lossy.
    assert_eq!(host.request_header("x-header-count").as_deref(), Some("8"));
    host.response_headers(&[], true).unwrap();
    // The raw bytes are readable too, and the cached path is lossy text.
    assert_eq!(host.response_header("x-binary-len").as_deref(), Some("4"));
    assert_eq!(
        host.response_header("x-path").as_deref(),
        Some("/caf\u{fffd}")
    );
    assert_eq!(host.log_messages(LogLevel::Critical), Vec::<String>::new());
}
