//! A C plugin written against the ABI (`tests/conformance/c/root-probe.c`, built with clang
//! for wasm32-wasi as Higress builds its C++ plugins): it finds its root context by
//! `plugin_root_id` as the proxy-wasm C++ SDK does, so it serves only when the gateway
//! answers the configured root id (empty by default, a plugin's `root_id` or a WasmPlugin's
//! `pluginName` otherwise).

use crate::common::{echo, start, tempdir, write, Body, Client, Config};
use wasmgate_testkit::examples::conformance_c;

/// A request header as the echo upstream saw it, from its JSON answer with the plugin's
/// `[root-probe]` line after it.
fn echoed_header(response: &crate::common::Response, name: &str) -> Option<String> {
    let text = response.text();
    let json = text.strip_suffix("[root-probe]\n").unwrap_or(&text);
    let echoed: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    echoed["headers"][name].as_str().map(str::to_string)
}

#[test]
fn a_c_plugin_finds_its_root_context_and_serves_config_headers_bodies_and_replies() {
    let upstream = echo();
    let dir = tempdir("c-root-probe");
    let config = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .route("r", "echo", &[])
        .plugin(
            "root-probe",
            conformance_c("root-probe"),
            &["config: {tag: alpha}"],
        );
    let gateway = start(&config, &dir);
    let response = gateway.get("/hello", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-c-config"), Some(r#"{"tag":"alpha"}"#));
    assert_eq!(response.header("x-c-root-id"), Some(""));
    assert!(
        response.text().ends_with("[root-probe]\n"),
        "the buffered response body, appended to: {}",
        response.text()
    );
    let denied = gateway.get("/deny/this", &[]);
    assert_eq!(denied.status, 403);
    // Its own local reply passes its response phases too, as in Envoy (the conformance
    // case `c/root-probe` compares them).
    assert_eq!(denied.text(), "denied by root-probe\n[root-probe]\n");
    assert_eq!(denied.header("x-c-denied"), Some("1"));
    // Under 0_2_100 a request-headers StopIteration holds the headers while the body comes
    // to the plugin, which sets a header from it before they go on.
    let body = br#"{"model":"qwen-max","messages":[]}"#;
    let held = gateway.post("a.com", &[("x-c-hold-headers", "1")], Body::Whole(body));
    assert_eq!(held.status, 200, "{}", held.text());
    assert_eq!(echoed_header(&held, "x-model").as_deref(), Some("qwen-max"));
    // Without the hold the headers went on before the body: no header is set from it.
    let streamed = gateway.post("a.com", &[], Body::Whole(body));
    assert_eq!(echoed_header(&streamed, "x-model"), None);
}

#[test]
fn the_root_id_comes_from_the_plugin_entry_or_the_wasmplugin_plugin_name() {
    let upstream = echo();
    let dir = tempdir("c-root-id");
    let wasm = conformance_c("root-probe");
    // A root id the plugin did not register: it stays inert, as under Envoy.
    let config = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .route("r", "echo", &[])
        .plugin("root-probe", &wasm, &["root_id: model-router"]);
    let gateway = start(&config, &dir);
    let response = gateway.get("/deny/this", &[]);
    assert_eq!(response.status, 200, "inert: {}", response.text());
    assert_eq!(response.header("x-c-config"), None);
    drop(gateway);
    let resource = write(
        &dir,
        "root-probe.yaml",
        format!(
            "apiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\n\
             metadata: {{name: root-probe}}\n\
             spec:\n  pluginName: other-root\n  url: file://{}\n",
            wasm.display()
        ),
    );
    let config = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .route("r", "echo", &[])
        .wasmplugin(&resource.display().to_string());
    let gateway = start(&config, &dir);
    assert_eq!(
        gateway.get("/deny/x", &[]).status,
        200,
        "inert under pluginName"
    );
}
