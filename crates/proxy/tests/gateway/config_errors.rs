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
        &[("remote.yaml", b"spec:\n  url: ftp://registry/plugin.wasm\n")],
        "remote.yaml:2",
        "the scheme ftp:// is not one wasmgate reads",
    );
}

/// Settings that would start a gateway that cannot serve as meant.
#[test]
fn empty_files_zero_workers_duplicate_routes_and_fail_policies_are_refused() {
    assert_refused("", &[], "wasmgate.yaml", "the configuration is empty");
    assert_refused(
        "# nothing yet\n\n",
        &[],
        "wasmgate.yaml",
        "the configuration is empty",
    );
    assert_refused(
        "listen: 127.0.0.1:0\nworkers: 0\n",
        &[],
        "wasmgate.yaml:2",
        "workers: 0 serves nothing",
    );
    let routes = "clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\nroutes:\n  - name: api\n    cluster: c\n  - name: api\n    cluster: c\n";
    assert_refused(
        routes,
        &[],
        "wasmgate.yaml:5",
        "two routes are named \"api\"",
    );
    let hello = example(Lang::Rust, "hello").display().to_string();
    let policy = format!("plugins:\n  - name: p\n    wasm: {hello}\n    fail_policy: sometimes\n");
    assert_refused(
        &policy,
        &[],
        "wasmgate.yaml:4",
        "fail_policy \"sometimes\" is not reload, closed or open",
    );
    let both = format!(
        "plugins:\n  - name: p\n    wasm: {hello}\n    fail_open: true\n    fail_policy: closed\n"
    );
    assert_refused(&both, &[], "wasmgate.yaml:4", "contradicts the fail_policy");
    assert_refused(
        "plugins:\n  - wasmplugin: p.yaml\n",
        &[(
            "p.yaml",
            format!("spec:\n  url: file://{hello}\n  failStrategy: FAIL_SOMETIMES\n").as_bytes(),
        )],
        "p.yaml:3",
        "is not FAIL_CLOSE, FAIL_OPEN or FAIL_RELOAD",
    );
}

/// A route's `headers`, `query_parameters` and `methods` that cannot match as written.
#[test]
fn bad_route_conditions_are_refused_with_line_and_fix() {
    let head = "clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\nroutes:\n  - name: other\n    cluster: c\n    headers: [{name: x-a, exact: a}]\n  - name: r\n    cluster: c\n";
    let refused = |tail: &str, line: usize, reason: &str| {
        assert_refused(
            &format!("{head}{tail}"),
            &[],
            &format!("wasmgate.yaml:{line}:"),
            reason,
        );
    };
    refused(
        "    headers:\n      - {name: x-ok, present: true}\n      - {name: x-id, regex: \"[0-9\"}\n",
        12,
        "headers entry 2 of route r: the regex of headers \"x-id\" is not valid",
    );
    refused(
        "    headers:\n      - {name: x-a}\n",
        11,
        "says nothing to match; give one of exact, prefix, regex or present",
    );
    refused(
        "    headers:\n      - name: x-a\n        exact: a\n        prefix: b\n",
        11,
        "more than one of exact, prefix, regex and present",
    );
    refused(
        "    query_parameters:\n      - {name: \"\", exact: a}\n",
        11,
        "query_parameters entry 1 of route r: the name is empty",
    );
    refused(
        "    query_parameters:\n      - {name: v, exact: a, invert: true}\n",
        11,
        "only headers take",
    );
    refused(
        "    query_parameters:\n      - {name: v, present: false}\n",
        11,
        "present: false",
    );
    refused(
        "    methods: [GET, \"\"]\n",
        10,
        "write methods as in the request line",
    );
    refused(
        "    headers:\n      - {name: x-a, exakt: a}\n",
        11,
        "unknown field `exakt`",
    );
}

#[test]
fn bad_listeners_and_edge_limits_are_refused_with_line_and_fix() {
    assert_refused("listen: []\n", &[], "wasmgate.yaml:1", "lists no listener");
    assert_refused(
        "listen:\n  - address: 127.0.0.1:8443\n  - address: 127.0.0.1:8443\n",
        &[],
        "wasmgate.yaml:2",
        "two listeners are on 127.0.0.1:8443",
    );
    assert_refused(
        "listen:\n  - address: nowhere\n",
        &[],
        "wasmgate.yaml:2",
        "is not IP:PORT",
    );
    assert_refused(
        "listen:\n  - address: 127.0.0.1:0\n    tls:\n      certificates: []\n",
        &[],
        "wasmgate.yaml:3",
        "has no certificates",
    );
    assert_refused(
        "listen:\n  - address: 127.0.0.1:0\n    tls:\n      certificates:\n        - {cert: c.pem, key: k.pem}\n      require_client_certificate: true\n",
        &[],
        "wasmgate.yaml:6",
        "names no client_ca",
    );
    assert_refused(
        "listen:\n  - address: 127.0.0.1:0\n    tls:\n      certificates:\n        - {cert: c.pem, key: k.pem}\n",
        &[("c.pem", b"not PEM"), ("k.pem", b"not PEM")],
        "wasmgate.yaml:5",
        "holds no PEM certificate",
    );
    assert_refused(
        "edge:\n  max_request_headers_kb: 0\n",
        &[],
        "wasmgate.yaml:2",
        "from 1 to 8192",
    );
    assert_refused(
        "edge:\n  http2_max_concurrent_streams: 0\n",
        &[],
        "wasmgate.yaml:2",
        "at least 1",
    );
}

#[test]
fn a_gateway_without_listeners_does_not_start() {
    let mut config = wasmgate_proxy::GatewayConfig::new();
    config.listeners.clear();
    match wasmgate_proxy::Gateway::start(config) {
        Ok(_) => panic!("started without a listener"),
        Err(e) => assert!(e.to_string().contains("no listener configured"), "{e}"),
    }
}

#[test]
fn bad_upgrade_configs_are_refused_with_line_and_fix() {
    assert_refused(
        "upgrade_configs:\n  - {upgrade_type: websocket}\n  - {upgrade_type: WebSocket}\n",
        &[],
        "wasmgate.yaml:3",
        "listed twice",
    );
    assert_refused(
        "upgrade_configs:\n  - {upgrade_type: \"web socket\"}\n",
        &[],
        "wasmgate.yaml:2",
        "not an Upgrade header token",
    );
    assert_refused(
        "clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\nroutes:\n  - name: r\n    cluster: c\n    upgrade_configs:\n      - {upgrade_type: websocket}\n      - {upgrade_type: CONNECT}\n",
        &[],
        "wasmgate.yaml:9",
        "CONNECT is not supported",
    );
    assert_refused(
        "upgrade_configs:\n  - {upgrade_type: h2c}\n",
        &[],
        "wasmgate.yaml:2",
        "h2c upgrades are not proxied",
    );
    assert_refused(
        "upgrade_configs:\n  - {upgrade_type: websocket, enable: true}\n",
        &[],
        "wasmgate.yaml:2",
        "unknown field `enable`",
    );
}
