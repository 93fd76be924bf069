//! The Go example plugins (Higress `wasm-go`, ABI `0_2_100`) through the test kit.

use wasmgate_testkit::examples::{example, Lang};
use wasmgate_testkit::{HttpCalloutResponse, StreamState, TestHost};

fn host(name: &str, config: &str) -> TestHost {
    TestHost::builder(example(Lang::Go, name))
        .plugin_name(name)
        .config_json(config)
        .start()
        .unwrap_or_else(|e| panic!("{name} starts: {e}"))
}

#[test]
fn go_hello_adds_a_header_without_mock() {
    let mut host = host("hello", r#"{"mockEnable": false}"#);
    let state = host
        .request_headers(&[(":path", "/anything")], true)
        .unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.request_header("hello").as_deref(), Some("world"));
}

#[test]
fn go_hello_answers_itself_with_mock() {
    let mut host = host("hello", r#"{"mockEnable": true}"#);
    host.request_headers(&[(":path", "/")], true).unwrap();
    let reply = host.local_reply().expect("a local reply");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"hello world");
}

#[test]
fn go_http_call_copies_the_token() {
    let mut host = host(
        "http-call",
        r#"{"serviceSource": "dns", "serviceName": "auth", "servicePort": 8080, "domain": "auth.example.com", "path": "/token"}"#,
    );
    let state = host.request_headers(&[(":path", "/api")], true).unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    let call = host.http_callouts().pop().expect("a callout");
    assert_eq!(call.upstream, "outbound|8080||auth.dns");
    assert_eq!(call.header(":authority"), Some("auth.example.com"));
    assert_eq!(call.header(":path"), Some("/token"));
    let state = host
        .answer_http(
            call.token,
            Some(HttpCalloutResponse::new(200, &[("x-token", "t-1")], "")),
        )
        .unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.request_header("x-token").as_deref(), Some("t-1"));
}

#[test]
fn go_http_call_failure_is_a_500() {
    let mut host = host(
        "http-call",
        r#"{"serviceSource": "ip", "serviceName": "auth", "servicePort": 80, "path": "/token"}"#,
    );
    host.request_headers(&[], true).unwrap();
    let state = host.answer_first_http(None).unwrap();
    assert!(
        matches!(&state, StreamState::Replied(r) if r.status == 500 && r.body == b"http call failed"),
        "{state:?}"
    );
}

#[test]
fn go_http_call_rejects_an_unknown_service_source() {
    let err = TestHost::builder(example(Lang::Go, "http-call"))
        .config_json(r#"{"serviceSource": "zookeeper", "serviceName": "a", "path": "/"}"#)
        .start()
        .err()
        .expect("start fails");
    assert!(
        err.to_string().contains("rejected its configuration"),
        "{err}"
    );
}

#[test]
fn go_held_response_headers_wait_while_the_body_reaches_the_plugin() {
    let plugin = wasmgate_testkit::examples::conformance_go("held-response");
    let mut host = TestHost::builder(plugin).start().unwrap();
    host.request_headers(&[(":path", "/")], true).unwrap();
    let state = host
        .response_headers(&[("content-length", "6")], false)
        .unwrap();
    assert_eq!(
        state,
        StreamState::HoldingHeaders(wasmgate_testkit::Phase::ResponseHeaders)
    );
    let state = host.response_body(b"abc", false).unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    let state = host.response_body(b"def", true).unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.response_body_bytes(), b"held 6 bytes: ABCDEF");
    assert_eq!(host.response_header("x-held").as_deref(), Some("yes"));
}

#[test]
fn go_injected_response_data_moves_on_as_in_the_gateway() {
    let plugin = wasmgate_testkit::examples::conformance_go("inject-probe");
    let mut host = TestHost::builder(plugin).start().unwrap();
    host.request_headers(&[("x-inject", "on-header")], true)
        .unwrap();
    let state = host.response_headers(&[], false).unwrap();
    assert_eq!(
        state,
        StreamState::Running,
        "the injection let the headers go"
    );
    // The upstream's body no longer reaches the plugin: the injection ended the response.
    host.response_body(b"upstream", true).unwrap();
    assert_eq!(host.response_body_bytes(), br#"{"injected":"on-header"}"#);
    host.complete().unwrap();
    host.request_headers(&[("x-inject", "body-end")], true)
        .unwrap();
    host.response_headers(&[], false).unwrap();
    let state = host.response_body(b"first", false).unwrap();
    assert_eq!(state, StreamState::Running);
    host.response_body(b"second", true).unwrap();
    assert_eq!(host.response_body_bytes(), b"[the end]");
}
