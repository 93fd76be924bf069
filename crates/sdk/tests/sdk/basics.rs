//! wasmgate-sdk's basics: registration, config parsing, every phase (streaming and
//! buffered bodies), the HttpContext API, actions, the logger, errors and panics.
//! Plugins: `examples/rust/sdk-hello` and `tests/plugins/sdk-probe`.

use crate::common::{replied, start, start_logs};
use wasmgate_testkit::examples::fixture;
use wasmgate_testkit::{HostError, LogLevel, StreamState, TestHost};

fn probe(config: &str) -> TestHost {
    start("sdk-probe", config)
}

#[test]
fn hello_adds_a_header_and_continues() {
    let mut host = start("sdk-hello", r#"{"mockEnable": false}"#);
    let state = host.request_headers(&[(":path", "/a")], true).unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.request_header("hello").as_deref(), Some("world"));
}

#[test]
fn hello_mocks_the_reply() {
    let mut host = start("sdk-hello", r#"{"mockEnable": true}"#);
    let state = host.request_headers(&[], true).unwrap();
    let reply = replied(&state);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"hello world");
    assert_eq!(host.request_header("hello").as_deref(), Some("world"));
}

#[test]
fn hello_takes_an_empty_config_with_a_warning() {
    let mut host = start("sdk-hello", "");
    host.request_headers(&[], true).unwrap();
    assert_eq!(host.request_header("hello").as_deref(), Some("world"));
    let warnings = host.log_messages(LogLevel::Warn);
    assert!(
        warnings
            .iter()
            .any(|m| m.contains("configuration is empty")),
        "{warnings:?}"
    );
}

#[test]
fn a_bad_config_fails_the_start_with_a_clear_line() {
    for (config, expect) in [
        ("{not json", "the configuration is not valid JSON"),
        ("[1,2]", "the configuration must be a JSON object"),
        (
            r#"{"mockEnable": "yes"}"#,
            "global config: invalid type: string \"yes\"",
        ),
    ] {
        let (result, lines) = start_logs("sdk-hello", config);
        let err = result.expect_err("start fails");
        assert!(matches!(err, HostError::Rejected { .. }), "{err}");
        assert!(
            lines.iter().any(
                |l| l.starts_with("[my-plugin] [nil] [nil] failed to start: ")
                    && l.contains(expect)
            ),
            "{config}: {lines:?}"
        );
    }
}

#[test]
fn a_rule_without_match_keys_fails_the_start() {
    let (result, lines) = start_logs("sdk-probe", r#"{"name": "g", "_rules_": [{"name": "r"}]}"#);
    assert!(result.is_err());
    assert!(
        lines
            .iter()
            .any(|l| l.contains("_rules_[0]: a rule needs at least one of")),
        "{lines:?}"
    );
}

#[test]
fn request_facts_are_cached_for_later_phases() {
    let mut host = probe(r#"{"name": "g", "_plugin_id_": "pid-7"}"#);
    host.request_headers(
        &[
            (":path", "/facts?q=1"),
            (":method", "POST"),
            (":authority", "api.test.com"),
            ("x-request-id", "rid-42"),
        ],
        false,
    )
    .unwrap();
    assert_eq!(host.request_header("x-config").as_deref(), Some("g"));
    host.request_body(b"abc", true).unwrap();
    host.response_headers(&[("content-type", "text/plain")], false)
        .unwrap();
    let h = |n: &str| host.response_header(n).unwrap_or_default();
    assert_eq!(h("x-path"), "/facts?q=1");
    assert_eq!(h("x-method"), "POST");
    assert_eq!(h("x-host"), "api.test.com");
    assert_eq!(h("x-scheme"), "http");
    assert_eq!(h("x-phase"), "ResponseHeaders");
    assert_eq!(h("x-has-request-body"), "true");
    assert_eq!(h("x-websocket"), "false");
    assert_eq!(h("x-seen"), "g:/facts?q=1", "typed per-request storage");
    // The logger prefixes plugin, plugin id and request id.
    let infos = host.log_messages(LogLevel::Info);
    assert!(
        infos
            .iter()
            .any(|m| m == "[sdk-probe] [pid-7] [rid-42] request headers for /facts?q=1"),
        "{infos:?}"
    );
    // x-request-id is copied to the x_request_id property.
    assert_eq!(
        host.property("x_request_id").as_deref(),
        Some(&b"rid-42"[..])
    );
}

#[test]
fn the_logger_honours_the_host_level() {
    let mut host = TestHost::builder(fixture("sdk-probe"))
        .plugin_name("sdk-probe")
        .config_json(r#"{"name": "g"}"#)
        .log_level(LogLevel::Warn)
        .start()
        .unwrap();
    host.request_headers(&[(":path", "/x")], true).unwrap();
    assert!(host.log_messages(LogLevel::Info).is_empty());
}

#[test]
fn streaming_request_body_replaces_each_chunk() {
    let mut host = probe(r#"{"name": "g"}"#);
    host.request_headers(&[(":path", "/up"), (":method", "POST")], false)
        .unwrap();
    let state = host.request_body(b"hello ", false).unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.request_body_bytes(), b"HELLO ");
    let state = host.request_body(b"world", true).unwrap();
    assert_eq!(state, StreamState::Running);
    assert!(
        host.request_body_bytes().ends_with(b"WORLD|end"),
        "{:?}",
        String::from_utf8_lossy(&host.request_body_bytes())
    );
}

#[test]
fn buffered_body_waits_for_the_end() {
    let mut host = probe(r#"{"name": "g"}"#);
    host.request_headers(&[(":path", "/buffered"), (":method", "POST")], false)
        .unwrap();
    let state = host.request_body(b"12345", false).unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    let state = host.request_body(b"678", true).unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.request_body_bytes(), b"buffered:8");
}

#[test]
fn dont_read_body_skips_the_handlers() {
    let mut host = probe(r#"{"name": "g"}"#);
    host.request_headers(&[(":path", "/nobody")], false)
        .unwrap();
    host.request_body(b"keep me", true).unwrap();
    assert_eq!(host.request_body_bytes(), b"keep me");
}

#[test]
fn binary_bodies_are_not_read() {
    let mut host = probe(r#"{"name": "g"}"#);
    host.request_headers(&[("content-type", "application/octet-stream")], false)
        .unwrap();
    host.request_body(b"\x00\x01", true).unwrap();
    assert_eq!(host.request_body_bytes(), b"\x00\x01");
    host.complete().unwrap();
    // Any content-encoding counts as binary (wasm-go's rule).
    host.request_headers(&[("content-encoding", "gzip")], false)
        .unwrap();
    host.request_body(b"zz", true).unwrap();
    assert_eq!(host.request_body_bytes(), b"zz");
}

#[test]
fn websocket_is_detected() {
    let mut host = probe(r#"{"name": "g"}"#);
    host.request_headers(&[("connection", "Upgrade"), ("upgrade", "WebSocket")], true)
        .unwrap();
    host.response_headers(&[], true).unwrap();
    assert_eq!(host.response_header("x-websocket").as_deref(), Some("true"));
    assert_eq!(
        host.response_header("x-has-request-body").as_deref(),
        Some("false")
    );
}

#[test]
fn streaming_response_body() {
    let mut host = probe(r#"{"name": "g"}"#);
    host.request_headers(&[], true).unwrap();
    host.response_headers(&[("content-type", "text/plain")], false)
        .unwrap();
    host.response_body(b"abc", true).unwrap();
    assert_eq!(host.response_body_bytes(), b"[abc]");
}

#[test]
fn local_reply_from_a_handler() {
    let mut host = probe(r#"{"name": "g"}"#);
    let state = host.request_headers(&[(":path", "/reply")], true).unwrap();
    let reply = replied(&state);
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body, b"denied");
    assert_eq!(reply.headers.get_str("x-reason"), Some("probe"));
}

#[test]
fn stop_iteration_is_passed_through() {
    let mut host = probe(r#"{"name": "g"}"#);
    let state = host.request_headers(&[(":path", "/stop")], false).unwrap();
    assert!(matches!(state, StreamState::HoldingHeaders(_)), "{state:?}");
}

#[test]
fn a_handler_error_is_logged_and_fails_the_request_with_500() {
    let mut host = probe(r#"{"name": "g"}"#);
    let state = host.request_headers(&[(":path", "/error")], true).unwrap();
    assert_eq!(replied(&state).status, 500);
    let errors = host.log_messages(LogLevel::Error);
    assert!(
        errors
            .iter()
            .any(|m| m.contains("request headers handler failed: probe handler failed on purpose")),
        "{errors:?}"
    );
    // The VM is fine: the next request works.
    host.complete().unwrap();
    let state = host.request_headers(&[(":path", "/ok")], true).unwrap();
    assert_eq!(state, StreamState::Running);
}

#[test]
fn a_panic_is_logged_with_its_message_and_the_vm_can_be_rebuilt() {
    let mut host = probe(r#"{"name": "g"}"#);
    let err = host
        .request_headers(&[(":path", "/panic"), ("x-request-id", "rid-p")], true)
        .unwrap_err();
    assert!(matches!(err, HostError::Trap { .. }), "{err}");
    let critical = host.log_messages(LogLevel::Critical);
    assert!(
        critical
            .iter()
            .any(|m| m.starts_with("[sdk-probe] [nil] [rid-p] panicked at ")
                && m.ends_with("probe panicked on purpose")),
        "{critical:?}"
    );
    host.rebuild().unwrap();
    let state = host.request_headers(&[(":path", "/ok")], true).unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.request_header("x-config").as_deref(), Some("g"));
}

#[test]
fn user_attributes_reach_custom_log_and_trace() {
    let mut host = probe(r#"{"name": "g"}"#);
    host.request_headers(&[(":path", "/attrs")], true).unwrap();
    host.response_headers(&[], true).unwrap();
    let log = host.property("custom_log").expect("custom_log set");
    // wasm-go's escaped form: the JSON text as the body of a JSON string.
    assert_eq!(
        String::from_utf8(log).unwrap(),
        r#"{\"path\":\"/attrs\",\"probe\":\"g\",\"status\":200}"#
    );
    assert_eq!(
        host.property("trace_span_tag.probe").as_deref(),
        Some(&b"g"[..])
    );
    assert_eq!(
        host.property("trace_span_tag.status").as_deref(),
        Some(&b"200"[..])
    );
}

#[test]
fn stream_done_runs_with_the_config() {
    let mut host = probe(r#"{"name": "g"}"#);
    host.request_headers(&[(":path", "/done")], true).unwrap();
    host.complete().unwrap();
    let infos = host.log_messages(LogLevel::Info);
    assert!(
        infos.iter().any(|m| m.ends_with("done: g /done Done")),
        "{infos:?}"
    );
}

#[test]
fn exports_the_higress_marker_and_raw_actions() {
    let mut host = probe(r#"{"name": "g"}"#);
    assert_eq!(host.vm().abi(), wasmgate_host::abi::AbiVersion::V0_2_100);
    // Under 0_2_100 a request-headers StopIteration (1) reaches the host as is: the headers
    // wait while the body comes.
    let state = host.request_headers(&[(":path", "/stop")], false).unwrap();
    assert!(matches!(state, StreamState::HoldingHeaders(_)), "{state:?}");
}
