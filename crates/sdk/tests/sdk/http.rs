//! wasmgate-sdk's HTTP client with callbacks and `async`, pausing and
//! resuming the request for the author. Plugins: `sdk-probe`, `sdk-http-call`.

use wasmgate_testkit::examples::{example, fixture, Lang};
use wasmgate_testkit::{HttpCalloutResponse, LogLevel, StreamState, TestHost};

fn probe() -> TestHost {
    TestHost::builder(fixture("sdk-probe"))
        .plugin_name("sdk-probe")
        .config_json(r#"{"name": "g", "upstream": "outbound|80||auth.static"}"#)
        .start()
        .expect("plugin starts")
}

#[test]
fn a_callback_call_pauses_then_resumes() {
    let mut host = probe();
    let state = host.request_headers(&[(":path", "/call")], true).unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    let calls = host.http_callouts();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.upstream, "outbound|80||auth.static");
    assert_eq!(call.header(":method"), Some("GET"));
    assert_eq!(call.header(":path"), Some("/token?x=1"));
    assert_eq!(call.header(":authority"), Some("upstream.local"));
    assert_eq!(call.header("x-probe"), Some("1"));
    assert_eq!(call.timeout_ms, 500, "wasm-go's default timeout");
    let reply = HttpCalloutResponse::new(201, &[("x-a", "b")], "tok-1");
    let state = host.answer_http(call.token, Some(reply)).unwrap();
    assert_eq!(state, StreamState::Running, "resumed by the SDK");
    assert_eq!(host.request_header("x-token").as_deref(), Some("tok-1"));
    assert_eq!(host.request_header("x-status").as_deref(), Some("201"));
}

#[test]
fn a_failed_call_reaches_the_callback_as_an_error() {
    let mut host = probe();
    host.request_headers(&[(":path", "/call")], true).unwrap();
    let state = host.answer_first_http(None).unwrap();
    match state {
        StreamState::Replied(reply) => assert_eq!(reply.status, 500),
        other => panic!("expected a 500, got {other:?}"),
    }
    let errors = host.log_messages(LogLevel::Error);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("http callback failed") && e.contains("no response")),
        "{errors:?}"
    );
}

#[test]
fn a_call_the_host_refuses_is_an_error_at_once() {
    let mut host = TestHost::builder(fixture("sdk-probe"))
        .config_json(r#"{"name": "g", "upstream": "outbound|80||auth.static"}"#)
        .clusters(&["outbound|80||auth.static"])
        .start()
        .unwrap();
    let state = host
        .request_headers(&[(":path", "/fail-call")], true)
        .unwrap();
    match state {
        StreamState::Replied(reply) => assert_eq!(reply.status, 500),
        other => panic!("expected a 500, got {other:?}"),
    }
    let errors = host.log_messages(LogLevel::Error);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("outbound|80||nowhere.static") && e.contains("BadArgument")),
        "{errors:?}"
    );
}

#[test]
fn async_task_awaits_two_calls_in_sequence() {
    let mut host = probe();
    let state = host.request_headers(&[(":path", "/async")], true).unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    let calls = host.http_callouts();
    assert_eq!(calls.len(), 1, "the second call waits for the first");
    assert_eq!(calls[0].header(":path"), Some("/first"));
    let state = host
        .answer_http(
            calls[0].token,
            Some(HttpCalloutResponse::new(200, &[], "one")),
        )
        .unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    let calls = host.http_callouts();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].header(":method"), Some("POST"));
    assert_eq!(calls[0].header(":path"), Some("/second"));
    assert_eq!(calls[0].body, b"one");
    assert_eq!(calls[0].timeout_ms, 1500);
    let state = host
        .answer_http(
            calls[0].token,
            Some(HttpCalloutResponse::new(200, &[], "two")),
        )
        .unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.request_header("x-async").as_deref(), Some("one+two"));
}

#[test]
fn async_task_can_reply_locally_instead_of_resuming() {
    let mut host = probe();
    host.request_headers(&[(":path", "/async")], true).unwrap();
    host.answer_first_http(Some(HttpCalloutResponse::new(200, &[], "one")))
        .unwrap();
    let state = host
        .answer_first_http(Some(HttpCalloutResponse::new(403, &[], "no")))
        .unwrap();
    match state {
        StreamState::Replied(reply) => {
            assert_eq!(reply.status, 403);
            assert_eq!(reply.body, b"second said no");
        }
        other => panic!("expected a local reply, got {other:?}"),
    }
}

#[test]
fn async_task_error_fails_the_request() {
    let mut host = probe();
    host.request_headers(&[(":path", "/async")], true).unwrap();
    let state = host.answer_first_http(None).unwrap();
    match state {
        StreamState::Replied(reply) => assert_eq!(reply.status, 500),
        other => panic!("expected a 500, got {other:?}"),
    }
    assert!(host.http_callouts().is_empty(), "the task stopped");
}

#[test]
fn a_request_that_ends_drops_its_task() {
    let mut host = probe();
    host.request_headers(&[(":path", "/async")], true).unwrap();
    let token = host.http_callouts()[0].token;
    host.complete().unwrap();
    // The answer arrives after the request is gone: nothing happens, nothing crashes.
    host.answer_http(token, Some(HttpCalloutResponse::new(200, &[], "late")))
        .unwrap();
    let state = host.request_headers(&[(":path", "/ok")], true).unwrap();
    assert_eq!(state, StreamState::Running);
}

fn http_call(config: &str) -> TestHost {
    TestHost::builder(example(Lang::Rust, "sdk-http-call"))
        .plugin_name("http-call")
        .config_json(config)
        .start()
        .expect("plugin starts")
}

#[test]
fn http_call_example_builds_each_cluster_kind() {
    let cases = [
        (
            r#"{"serviceSource": "k8s", "serviceName": "auth", "servicePort": 8080, "namespace": "prod"}"#,
            "outbound|8080||auth.prod.svc.cluster.local",
            "auth.prod.svc.cluster.local",
        ),
        (
            r#"{"serviceSource": "k8s", "serviceName": "auth", "servicePort": 8080}"#,
            "outbound|8080||auth.default.svc.cluster.local",
            "auth.default.svc.cluster.local",
        ),
        (
            r#"{"serviceSource": "nacos", "serviceName": "auth", "servicePort": 8848, "namespace": "ns-1"}"#,
            "outbound|8848||auth.DEFAULT-GROUP.ns-1.nacos",
            "auth",
        ),
        (
            r#"{"serviceSource": "ip", "serviceName": "auth", "servicePort": 80}"#,
            "outbound|80||auth.static",
            "auth",
        ),
        (
            r#"{"serviceSource": "dns", "serviceName": "auth", "servicePort": 443, "domain": "auth.example.com"}"#,
            "outbound|443||auth.dns",
            "auth.example.com",
        ),
    ];
    for (service, cluster, authority) in cases {
        let config = service.replacen(
            '{',
            r#"{"requestPath": "/token", "tokenHeader": "x-token", "#,
            1,
        );
        let mut host = http_call(&config);
        let state = host.request_headers(&[(":path", "/api")], true).unwrap();
        assert!(
            matches!(state, StreamState::Paused(_)),
            "{service}: {state:?}"
        );
        let calls = host.http_callouts();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].upstream, cluster, "{service}");
        assert_eq!(calls[0].header(":authority"), Some(authority), "{service}");
        assert_eq!(calls[0].header(":path"), Some("/token"));
        let reply = HttpCalloutResponse::new(200, &[("x-token", "abc")], "ok");
        let state = host.answer_http(calls[0].token, Some(reply)).unwrap();
        assert_eq!(state, StreamState::Running);
        assert_eq!(host.request_header("x-token").as_deref(), Some("abc"));
    }
}

#[test]
fn http_call_example_fails_on_a_bad_status() {
    let mut host = http_call(
        r#"{"serviceSource": "ip", "serviceName": "auth", "servicePort": 80, "requestPath": "/t", "tokenHeader": "x-token"}"#,
    );
    host.request_headers(&[], true).unwrap();
    let state = host
        .answer_first_http(Some(HttpCalloutResponse::new(503, &[], "")))
        .unwrap();
    match state {
        StreamState::Replied(reply) => {
            assert_eq!(reply.status, 500);
            assert_eq!(reply.body, b"http call failed");
        }
        other => panic!("expected a local reply, got {other:?}"),
    }
}

#[test]
fn http_call_example_rejects_bad_configs() {
    for config in [
        r#"{"serviceSource": "ip", "serviceName": "a", "servicePort": 80, "requestPath": "/t"}"#,
        r#"{"serviceSource": "ip", "serviceName": "a", "servicePort": 80, "tokenHeader": "x"}"#,
        r#"{"serviceSource": "ip", "servicePort": 80, "requestPath": "/t", "tokenHeader": "x"}"#,
        r#"{"serviceSource": "eureka", "serviceName": "a", "servicePort": 80, "requestPath": "/t", "tokenHeader": "x"}"#,
    ] {
        let result = TestHost::builder(example(Lang::Rust, "sdk-http-call"))
            .config_json(config)
            .start();
        assert!(result.is_err(), "{config}");
    }
}
