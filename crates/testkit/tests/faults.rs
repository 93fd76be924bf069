//! A plugin that misbehaves fails only its own request, with a clear error, and a rebuilt
//! VM serves the next one.

use std::time::Duration;

use wasmgate_testkit::examples::fixture;
use wasmgate_testkit::{HostError, LogLevel, StreamState, TestHost};

fn faults() -> TestHost {
    TestHost::builder(fixture("faults"))
        .plugin_name("faults")
        .memory_limit(64 << 20)
        .call_timeout(Duration::from_millis(1000))
        .start()
        .unwrap()
}

fn fault(host: &mut TestHost, kind: &str) -> Result<StreamState, HostError> {
    host.request_headers(&[("x-fault", kind)], true)
}

fn assert_recovers(host: &mut TestHost) {
    assert!(matches!(
        fault(host, "none"),
        Err(HostError::Poisoned { .. })
    ));
    host.rebuild().unwrap();
    assert_eq!(fault(host, "none").unwrap(), StreamState::Running);
}

#[test]
fn a_trap_is_an_error_and_the_vm_is_rebuilt() {
    let mut host = faults();
    let err = fault(&mut host, "trap").unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("plugin faults crashed in proxy_on_request_headers"),
        "{text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(host
        .log_messages(LogLevel::Critical)
        .iter()
        .any(|m| m.contains("fault requested")));
    assert_recovers(&mut host);
}

#[test]
fn an_endless_loop_is_interrupted() {
    let mut host = faults();
    let err = fault(&mut host, "loop").unwrap_err();
    assert!(
        err.to_string()
            .contains("ran longer than the 1000 ms time limit"),
        "{err}"
    );
    assert_recovers(&mut host);
}

#[test]
fn the_memory_limit_holds() {
    let mut host = faults();
    let err = fault(&mut host, "oom").unwrap_err();
    assert!(err.to_string().contains("memory limit"), "{err}");
    assert!(host.vm().memory_size() <= 64 << 20);
    assert_recovers(&mut host);
}

#[test]
fn an_out_of_bounds_pointer_gets_a_status_not_a_crash() {
    let mut host = faults();
    assert_eq!(fault(&mut host, "oob").unwrap(), StreamState::Running);
    assert_eq!(host.request_header("x-oob-status").as_deref(), Some("6"));
    assert_eq!(
        host.request_header("x-oob-log-status").as_deref(),
        Some("6")
    );
    host.complete().unwrap();
    assert_eq!(fault(&mut host, "none").unwrap(), StreamState::Running);
}

#[test]
fn a_missing_file_and_a_file_that_is_not_wasm_are_clear_errors() {
    let err = TestHost::builder("/nonexistent/plugin.wasm")
        .start()
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("cannot read plugin /nonexistent/plugin.wasm"),
        "{err}"
    );
    let dir = std::env::temp_dir().join(format!("wasmgate-notwasm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.wasm");
    std::fs::write(&file, "mockEnable: true\n").unwrap();
    let err = TestHost::builder(&file).start().err().unwrap();
    assert!(
        err.to_string()
            .contains("is not a valid WebAssembly module"),
        "{err}"
    );
}
