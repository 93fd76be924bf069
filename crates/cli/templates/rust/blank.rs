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
fn lets_the_request_through() {
    let mut host = start("{}");
    let state = host.request_headers(&[(":path", "/")], false).unwrap();
    assert_eq!(state, StreamState::Running, "the request goes on");
    assert_eq!(
        host.request_body(b"hello", true).unwrap(),
        StreamState::Running
    );
    assert_eq!(
        host.response_headers(&[], false).unwrap(),
        StreamState::Running
    );
    assert_eq!(
        host.response_body(b"ok", true).unwrap(),
        StreamState::Running
    );
    assert!(host.local_reply().is_none(), "the plugin does not answer");
}
