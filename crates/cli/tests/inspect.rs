//! `wasmgate inspect` on every example: a marker, and nothing it imports is missing.

use std::process::Command;

use wasmgate_testkit::examples::{example, Lang};

fn inspect(path: &std::path::Path) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .args(["inspect", "--json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn every_example_has_a_marker_and_no_missing_import() {
    let cases = [
        (Lang::Go, "hello", "proxy_abi_version_0_2_100"),
        (Lang::Go, "http-call", "proxy_abi_version_0_2_100"),
        (Lang::Rust, "hello", "proxy_abi_version_0_2_1"),
        (Lang::Rust, "http-call", "proxy_abi_version_0_2_1"),
        (Lang::Rust, "minimal", "proxy_abi_version_0_2_1"),
        (Lang::Rust, "faults", "proxy_abi_version_0_2_1"),
        (Lang::Rust, "abi-probe", "proxy_abi_version_0_2_1"),
    ];
    for (lang, name, marker) in cases {
        let report = inspect(&example(lang, name));
        assert_eq!(report["abi"], marker, "{name}");
        assert_eq!(report["missing"], serde_json::json!([]), "{name}");
        let callbacks = report["callbacks"].as_array().unwrap();
        assert!(
            callbacks.iter().any(|c| c == "proxy_on_request_headers"),
            "{name}"
        );
    }
}

#[test]
fn the_toolchain_of_a_go_plugin_is_named() {
    let report = inspect(&example(Lang::Go, "hello"));
    let producers = report["producers"].as_array().unwrap();
    assert!(
        producers
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("language: Go")),
        "{producers:?}"
    );
}

#[test]
fn text_output_names_the_marker_and_missing_count() {
    let output = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .arg("inspect")
        .arg(example(Lang::Rust, "hello"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("ABI marker:  proxy_abi_version_0_2_1"),
        "{text}"
    );
    assert!(text.contains(", 0 missing"), "{text}");
}
