//! A `wasmgate.yaml` the loader refuses: the error names the file and line (of the file
//! itself or of a WasmPlugin resource it refers to) and says what is wrong.

use crate::common::{tempdir, write};
use wasmgate_proxy::load_config;
use wasmgate_testkit::examples::{example, Lang};

/// Asserts that the loader refuses `text` (with the `extra` files beside it) with an error
/// that names `place` (`file:line`) and says `reason`.
#[track_caller]
fn assert_refused(text: &str, extra: &[(&str, &[u8])], place: &str, reason: &str) {
    let dir = tempdir("badconfig");
    for (name, contents) in extra {
        write(&dir, name, contents);
    }
    let file = write(&dir, "wasmgate.yaml", text);
    let error = match load_config(&file) {
        Ok(_) => panic!("loaded a bad configuration:\n{text}"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains(place) && error.contains(reason), "{error}");
}

#[test]
fn bad_configurations_are_refused_with_file_line_and_reason() {
    let hello = example(Lang::Rust, "hello").display().to_string();
    assert_refused(
        "listen: 127.0.0.1:0\nlisen: oops\n",
        &[],
        "wasmgate.yaml:2",
        "unknown field `lisen`",
    );
    assert_refused(
        "routes:\n  - name: r\n    cluster: nowhere\n",
        &[],
        "wasmgate.yaml:3",
        "nowhere",
    );
    assert_refused(
        "plugins:\n  - name: p\n    wasm: missing.wasm\n",
        &[],
        "wasmgate.yaml:3",
        "missing.wasm",
    );
    assert_refused(
        "plugins:\n  - name: p\n    wasm: text.wasm\n",
        &[("text.wasm", b"not wasm")],
        "wasmgate.yaml:3",
        "is not a wasm module",
    );
    let text = format!("plugins:\n  - name: p\n    wasm: {hello}\n    rules:\n      - config: {{ mockEnable: true }}\n");
    assert_refused(
        &text,
        &[],
        "wasmgate.yaml:4",
        "no routes, domains or services",
    );
    assert_refused(
        "clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n    ca_file: ca.pem\n",
        &[("ca.pem", b"not a certificate")],
        "wasmgate.yaml:4",
        "holds no PEM certificate",
    );
    assert_refused(
        "clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n    protocol: http3\n",
        &[],
        "wasmgate.yaml:4",
        "protocol \"http3\" of cluster c must be http1 or http2",
    );
    assert_refused(
        "plugins:\n  - wasmplugin: remote.yaml\n",
        &[("remote.yaml", b"spec:\n  url: oci://registry/plugin:1.0\n")],
        "remote.yaml:2",
        "not supported locally",
    );
}
