//! The plugin's tests. `cargo test` builds the plugin for wasm32-wasip1 (as `wasmgate build`
//! does) and runs it in-process with wasmgate-testkit: each test starts a plugin VM, sends it
//! a request's phases, answers its Redis commands and checks what the plugin did.

use wasmgate_testkit::{build, StreamState, TestHost};

const CONFIG: &str = r#"{
    "rule_name": "demo",
    "global_threshold": {"query_per_minute": 100},
    "redis": {"service_name": "redis.static", "service_port": 6379}
}"#;

/// The plugin, built and started with `config` (its JSON, as the gateway gives it).
fn start(config: &str) -> TestHost {
    let wasm = build::rust_plugin(env!("CARGO_MANIFEST_DIR")).expect("the plugin builds");
    TestHost::builder(wasm)
        .config_json(config)
        .start()
        .expect("the plugin starts")
}

/// Sends a request and answers the plugin's Redis command with `reply` (RESP): the fixed
/// window's script answers `[limit, count, seconds left]`.
fn request(reply: &[u8]) -> (TestHost, StreamState) {
    let mut host = start(CONFIG);
    let state = host.request_headers(&[(":path", "/api")], true).unwrap();
    assert!(
        matches!(state, StreamState::Paused(_)),
        "waits for Redis: {state:?}"
    );
    let calls = host.redis_callouts();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].upstream, "outbound|6379||redis.static");
    let state = host.answer_redis(calls[0].token, 0, reply).unwrap();
    (host, state)
}

#[test]
fn under_the_limit_the_request_goes_on() {
    let (_, state) = request(b"*3\r\n:100\r\n:1\r\n:60\r\n");
    assert_eq!(state, StreamState::Running);
}

#[test]
fn past_the_limit_it_is_a_429() {
    let (host, _) = request(b"*3\r\n:100\r\n:101\r\n:60\r\n");
    let reply = host.local_reply().expect("the plugin answers");
    assert_eq!(reply.status, 429);
    assert_eq!(reply.body, b"Too many requests");
}
