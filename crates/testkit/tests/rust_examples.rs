//! The Rust example plugins (stock `proxy-wasm` crate) through the test kit.

use std::time::Duration;

use wasmgate_testkit::examples::{example, fixture, Lang};
use wasmgate_testkit::{HttpCalloutResponse, LogLevel, StreamState, TestHost};

/// The abi-probe fixture with no configuration.
fn abi_probe() -> TestHost {
    TestHost::builder(fixture("abi-probe"))
        .plugin_name("abi-probe")
        .start()
        .expect("plugin starts")
}

fn host(name: &str, config: &str) -> TestHost {
    TestHost::builder(example(Lang::Rust, name))
        .plugin_name(name)
        .config_json(config)
        .start()
        .expect("plugin starts")
}

#[test]
fn hello_adds_a_header_without_mock() {
    let mut host = host("hello", r#"{"mockEnable": false}"#);
    let state = host
        .request_headers(&[(":path", "/anything")], true)
        .unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.request_header("hello").as_deref(), Some("world"));
    host.complete().unwrap();
}

#[test]
fn hello_answers_itself_with_mock() {
    let mut host = host("hello", r#"{"mockEnable": true}"#);
    host.request_headers(&[(":path", "/")], true).unwrap();
    let reply = host.local_reply().expect("a local reply");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"hello world");
}

#[test]
fn hello_rejects_a_config_that_is_not_json() {
    let err = TestHost::builder(example(Lang::Rust, "hello"))
        .plugin_name("hello")
        .config_json("{not json")
        .start()
        .err()
        .expect("start fails");
    assert!(
        err.to_string().contains("rejected its configuration"),
        "{err}"
    );
}

#[test]
fn http_call_copies_the_token_and_resumes() {
    let mut host = host(
        "http-call",
        r#"{"cluster": "outbound|8080||auth.dns", "path": "/token"}"#,
    );
    let state = host.request_headers(&[(":path", "/api")], true).unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    let calls = host.http_callouts();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].upstream, "outbound|8080||auth.dns");
    assert_eq!(calls[0].header(":path"), Some("/token"));
    assert_eq!(calls[0].header(":method"), Some("GET"));
    assert_eq!(calls[0].timeout_ms, 5000);
    let reply = HttpCalloutResponse::new(200, &[("x-token", "abc")], "");
    let state = host.answer_http(calls[0].token, Some(reply)).unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.request_header("x-token").as_deref(), Some("abc"));
}

#[test]
fn http_call_failure_is_a_500() {
    let mut host = host("http-call", "{}");
    host.request_headers(&[], true).unwrap();
    let state = host.answer_first_http(None).unwrap();
    match state {
        StreamState::Replied(reply) => {
            assert_eq!(reply.status, 500);
            assert_eq!(reply.body, b"http call failed");
        }
        other => panic!("expected a local reply, got {other:?}"),
    }
}

#[test]
fn http_call_to_an_unknown_cluster_fails_the_request() {
    let mut host = TestHost::builder(example(Lang::Rust, "http-call"))
        .clusters(&["outbound|80||other.dns"])
        .config_json("{}")
        .start()
        .unwrap();
    let state = host.request_headers(&[], true).unwrap();
    assert!(
        matches!(state, StreamState::Replied(ref r) if r.status == 500),
        "{state:?}"
    );
}

#[test]
fn minimal_touches_both_directions() {
    let mut host = host("minimal", "");
    host.request_headers(&[], true).unwrap();
    host.response_headers(&[("server", "up")], true).unwrap();
    assert_eq!(host.request_header("x-minimal").as_deref(), Some("1"));
    assert_eq!(host.response_header("x-minimal").as_deref(), Some("1"));
}

fn probe(host: &mut TestHost, case: &str) -> StreamState {
    host.complete().unwrap();
    host.request_headers(
        &[
            ("x-probe", case),
            ("user-agent", "probe/1"),
            ("x-request-id", "rid-1"),
        ],
        false,
    )
    .unwrap()
}

#[test]
fn abi_probe_reads_properties() {
    let mut host = TestHost::builder(fixture("abi-probe"))
        .plugin_name("probe")
        .route_name("r1")
        .cluster_name("outbound|80||svc.dns")
        .start()
        .unwrap();
    probe(&mut host, "props");
    let h = |n: &str| host.request_header(n).unwrap_or_default();
    assert_eq!(h("x-prop-request.path"), "/");
    assert_eq!(h("x-prop-request.method"), "GET");
    assert_eq!(h("x-prop-request.host"), "default.test.com");
    assert_eq!(h("x-prop-route_name"), "r1");
    assert_eq!(h("x-prop-cluster_name"), "outbound|80||svc.dns");
    assert_eq!(h("x-prop-plugin_name"), "probe");
    assert_eq!(h("x-prop-source.address"), "127.0.0.1:40000");
    assert_eq!(h("x-prop-request.headers.user-agent"), "probe/1");
    assert_eq!(h("x-prop-x_request_id"), "rid-1");
    assert_eq!(h("x-prop-custom_log"), r#"{"k":"v"}"#);
    assert_eq!(host.property("custom_log").unwrap(), br#"{"k":"v"}"#);
}

#[test]
fn abi_probe_shared_data_cas_queue_and_metrics() {
    let mut host = abi_probe();
    probe(&mut host, "shared");
    assert_eq!(host.request_header("x-shared-value").as_deref(), Some("1"));
    assert_eq!(
        host.request_header("x-shared-stale-cas").as_deref(),
        Some("mismatch")
    );
    probe(&mut host, "shared");
    assert_eq!(host.request_header("x-shared-value").as_deref(), Some("2"));
    assert_eq!(host.shared_data("probe-counter").unwrap(), b"2");

    probe(&mut host, "queue");
    assert_eq!(host.request_header("x-queue").as_deref(), Some("hello"));

    probe(&mut host, "metrics");
    probe(&mut host, "metrics");
    assert_eq!(
        host.request_header("x-metric-counter").as_deref(),
        Some("2")
    );
    assert_eq!(host.request_header("x-metric-gauge").as_deref(), Some("42"));
    assert_eq!(host.metric("probe_requests_total").unwrap().value, 2);
    assert_eq!(host.metric("probe_hist").unwrap().count, 2);
}

/// abi-probe under `name`, on the shared state of `shared` if given.
fn probe_host(name: &str, config: &str, shared: Option<&TestHost>) -> TestHost {
    let mut builder = TestHost::builder(fixture("abi-probe"))
        .plugin_name(name)
        .config_bytes(config);
    if let Some(other) = shared {
        builder = builder.shared(other.shared().clone());
    }
    builder.start().expect("plugin starts")
}

#[test]
fn queue_ready_reaches_the_vm_that_registered_the_queue() {
    let mut owner = probe_host("owner", "queue-owner", None);
    let mut producer = probe_host("producer", "", Some(&owner));
    // The owner's own item is delivered to it after its callback.
    probe(&mut owner, "enqueue");
    assert_eq!(owner.request_header("x-enqueued").as_deref(), Some("ok"));
    probe(&mut owner, "work-seen");
    assert_eq!(
        owner.request_header("x-work-seen").as_deref(),
        Some("calls=1 items=owner")
    );
    // Another VM's items wait for the owner, never for the VM that enqueued.
    probe(&mut producer, "enqueue");
    probe(&mut producer, "enqueue");
    probe(&mut producer, "work-seen");
    assert_eq!(
        producer.request_header("x-work-seen").as_deref(),
        Some("calls=1 items=owner")
    );
    owner.queue_ready().unwrap();
    probe(&mut owner, "work-seen");
    assert_eq!(
        owner.request_header("x-work-seen").as_deref(),
        Some("calls=3 items=owner,producer,producer")
    );
    assert_eq!(owner.metric("probe_work_items").unwrap().value, 3);
}

#[test]
fn a_queue_nobody_registered_cannot_be_resolved() {
    let mut host = probe_host("producer", "", None);
    probe(&mut host, "enqueue");
    assert_eq!(
        host.request_header("x-enqueued").as_deref(),
        Some("<no-queue>")
    );
}

#[test]
fn abi_probe_local_reply_bodies_and_response_headers() {
    let mut host = abi_probe();
    let state = probe(&mut host, "local-reply");
    match state {
        StreamState::Replied(reply) => {
            assert_eq!(reply.status, 418);
            assert_eq!(reply.body, b"teapot");
            assert_eq!(reply.headers.get_str("x-local"), Some("yes"));
        }
        other => panic!("{other:?}"),
    }

    probe(&mut host, "body");
    assert!(matches!(
        host.request_body(b"one ", false).unwrap(),
        StreamState::Paused(_)
    ));
    assert_eq!(
        host.request_body(b"two", true).unwrap(),
        StreamState::Running
    );
    assert_eq!(host.request_body_bytes(), b"replaced");
    host.response_headers(&[("content-length", "2")], false)
        .unwrap();
    host.response_body(b"ok", true).unwrap();
    assert_eq!(host.response_body_bytes(), b"ok-tail");
    assert_eq!(host.response_header("content-length"), None);

    probe(&mut host, "resp-headers");
    host.response_headers(&[("server", "upstream")], true)
        .unwrap();
    assert_eq!(host.response_header("x-resp-probe").as_deref(), Some("1"));
    assert_eq!(host.response_header("server"), None);
}

#[test]
fn abi_probe_log_level_foreign_ticks_and_callouts() {
    let mut host = TestHost::builder(fixture("abi-probe"))
        .log_level(LogLevel::Warn)
        .start()
        .unwrap();
    probe(&mut host, "log-level");
    assert_eq!(host.request_header("x-log-level").as_deref(), Some("3"));
    probe(&mut host, "foreign");
    assert_eq!(host.request_header("x-foreign-len").as_deref(), Some("4"));

    assert_eq!(host.tick_period(), Duration::from_millis(100));
    host.tick().unwrap();
    host.tick().unwrap();
    probe(&mut host, "ticks");
    assert_eq!(host.request_header("x-ticks").as_deref(), Some("2"));

    assert!(matches!(
        probe(&mut host, "pause-resume"),
        StreamState::Paused(_)
    ));
    let call = host.http_callouts().pop().unwrap();
    assert_eq!(call.upstream, "callout");
    let state = host
        .answer_http(call.token, Some(HttpCalloutResponse::new(201, &[], "pong")))
        .unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(
        host.request_header("x-callout-status").as_deref(),
        Some("201")
    );
    assert_eq!(
        host.request_header("x-callout-body").as_deref(),
        Some("pong")
    );
}

/// Envoy's header-map lifetimes: a map is the plugin's while its headers callback runs and,
/// if that stops the stream, until it resumes; `on_log` reads both again.
#[test]
fn abi_probe_header_maps_are_scoped_as_in_envoy() {
    let mut host = abi_probe();
    probe(&mut host, "map-scope");
    host.request_body(b"data", true).unwrap();
    host.response_headers(&[(":status", "200")], true).unwrap();
    let h = |n: &str| host.response_header(n).unwrap_or_default();
    // Request headers after Continue: BadArgument (2), no pairs, no `request.*` from them.
    assert_eq!(h("x-scope-request-header"), "status:2");
    assert_eq!(h("x-scope-request-pairs"), "0");
    assert_eq!(h("x-scope-request-path"), "<missing>");
    assert_eq!(h("x-scope-body-add"), "status:2");
    assert_eq!(host.request_header("x-from-body"), None);
    // Its own response headers, in their callback: reachable.
    assert_eq!(h("x-scope-response-header"), "0");
    // `on_log` (first, as in Envoy) reads both maps but changes neither; `on_done` neither.
    host.complete().unwrap();
    assert_eq!(
        host.log_messages(LogLevel::Info),
        vec![
            "map-scope on_log: request x-probe=map-scope response :status=200 \
             request.path=/ add=2 response.code=200 request.size=4 \
             response.code_details=via_upstream",
            "map-scope on_done: request x-probe=status:2 response :status=status:2 \
             request.path=<missing> add=2 response.code=200 request.size=4 \
             response.code_details=via_upstream",
        ]
    );

    // After `resume_http_request()` in the callout callback the request headers are gone.
    probe(&mut host, "pause-resume");
    let call = host.http_callouts().pop().unwrap();
    host.answer_http(call.token, Some(HttpCalloutResponse::new(200, &[], "")))
        .unwrap();
    assert_eq!(
        host.request_header("x-callout-status").as_deref(),
        Some("200")
    );
    assert_eq!(host.request_header("x-after-resume"), None);
}

/// An open response (`wasmgate_open_response`) as the test kit shows it: the MCP server's
/// old-transport `GET /sse` answers `200 text/event-stream` at once and writes its
/// `endpoint` event in the request phase; the response stays open. (Writes from later
/// callbacks: `crates/proxy/tests/gateway/mcp_streams.rs`.)
#[test]
fn an_open_response_shows_its_head_and_what_the_plugin_writes() {
    let mut host = TestHost::builder(example(Lang::Rust, "mcp-calculator"))
        .plugin_name("calculator")
        .start()
        .expect("plugin starts");
    let state = host
        .request_headers(&[(":method", "GET"), (":path", "/sse")], true)
        .unwrap();
    assert_ne!(
        state,
        StreamState::Running,
        "answered by the plugin: {state:?}"
    );
    assert!(host.response_is_open());
    // Its head is answered as a local reply's, with the body left open.
    let head = host.local_reply().expect("the open response's head");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.headers.get_str("content-type"),
        Some("text/event-stream")
    );
    assert!(head.body.is_empty());
    let first = String::from_utf8(host.response_body_bytes()).unwrap();
    assert!(
        first.starts_with("event: endpoint\ndata: /messages/?sessionId="),
        "{first}"
    );
    host.tick().unwrap();
    assert!(host.response_is_open(), "still open after a tick");
}
