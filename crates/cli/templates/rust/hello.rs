//! The plugin's tests. `cargo test` builds the plugin for wasm32-wasip1 (as `wasmgate build`
//! does) and runs it in-process with wasmgate-testkit: each test starts a plugin VM, sends it
//! a request's phases and checks what the plugin did.

use wasmgate_testkit::{build, StreamState, TestHost};

/// The plugin, built and started with `config` (its JSON, as the gateway gives it).
fn start(config: &str) -> TestHost {
    let wasm = build::rust_plugin(env!("CARGO_MANIFEST_DIR")).expect("the plugin builds");
    TestHost::builder(wasm)
        .config_json(config)
        .start()
        .expect("the plugin starts")
}

#[test]
fn adds_the_hello_header() {
    let mut host = start(r#"{"mockEnable": false}"#);
    let state = host.request_headers(&[(":path", "/")], true).unwrap();
    assert_eq!(state, StreamState::Running, "the request goes on");
    assert_eq!(host.request_header("hello").as_deref(), Some("world"));
}

#[test]
fn answers_by_itself_with_mock_enable() {
    let mut host = start(r#"{"mockEnable": true}"#);
    host.request_headers(&[(":path", "/anything")], true)
        .unwrap();
    let reply = host.local_reply().expect("the plugin answers");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"hello world");
}
