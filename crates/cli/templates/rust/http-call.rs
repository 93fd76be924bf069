//! The plugin's tests. `cargo test` builds the plugin for wasm32-wasip1 (as `wasmgate build`
//! does) and runs it in-process with wasmgate-testkit: each test starts a plugin VM, sends it
//! a request's phases, answers the HTTP calls it makes and checks what the plugin did.

use wasmgate_testkit::{build, HttpCalloutResponse, StreamState, TestHost};

const CONFIG: &str = r#"{
    "serviceSource": "dns", "serviceName": "auth", "servicePort": 8080, "domain": "auth.local",
    "requestPath": "/token", "tokenHeader": "x-token"
}"#;

/// The plugin, built and started with `config` (its JSON, as the gateway gives it).
fn start(config: &str) -> TestHost {
    let wasm = build::rust_plugin(env!("CARGO_MANIFEST_DIR")).expect("the plugin builds");
    TestHost::builder(wasm)
        .config_json(config)
        .start()
        .expect("the plugin starts")
}

#[test]
fn copies_the_token_from_the_auth_service() {
    let mut host = start(CONFIG);
    let state = host.request_headers(&[(":path", "/api")], true).unwrap();
    assert!(
        matches!(state, StreamState::Paused(_)),
        "waits for the call: {state:?}"
    );
    let calls = host.http_callouts();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].upstream, "outbound|8080||auth.dns");
    assert_eq!(calls[0].header(":path"), Some("/token"));
    let answer = HttpCalloutResponse::new(200, &[("x-token", "abc")], "");
    let state = host.answer_http(calls[0].token, Some(answer)).unwrap();
    assert_eq!(state, StreamState::Running, "the request goes on");
    assert_eq!(host.request_header("x-token").as_deref(), Some("abc"));
}

#[test]
fn a_failed_call_is_a_500() {
    let mut host = start(CONFIG);
    host.request_headers(&[(":path", "/api")], true).unwrap();
    // `None` fails the call, as a timeout or a refused connection does.
    host.answer_first_http(None).unwrap();
    let reply = host.local_reply().expect("the plugin answers");
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body, b"http call failed");
}

#[test]
fn a_config_without_service_does_not_start() {
    let wasm = build::rust_plugin(env!("CARGO_MANIFEST_DIR")).expect("the plugin builds");
    let started = TestHost::builder(wasm)
        .config_json(r#"{"requestPath": "/token", "tokenHeader": "x-token"}"#)
        .start();
    assert!(started.is_err(), "an incomplete config fails the start");
}
