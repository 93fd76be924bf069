//! The Go example plugins (`examples/go`, Higress wasm-go, `0_2_100` marker).

use wasmgate_conformance::{edge_requests, Case, Lang, Plugin};

#[test]
fn hello_mock_false() {
    Case::new(
        "go/hello mockEnable=false",
        vec![Plugin::example(
            Lang::Go,
            "hello",
            r#"{"mockEnable": false}"#,
        )],
        edge_requests(&[]),
    )
    .check();
}

#[test]
fn hello_mock_true() {
    Case::new(
        "go/hello mockEnable=true",
        vec![Plugin::example(
            Lang::Go,
            "hello",
            r#"{"mockEnable": true}"#,
        )],
        edge_requests(&[]),
    )
    .check();
}
