//! The round trip of `wasmgate export envoy`: a `wasmgate.yaml` with routes that match by
//! domain, exact path, regex, prefix, method, header and query, two clusters (reached through
//! host rewrites the upstream reports) and plugins with domain rules, loaded by wasmgate's
//! loader and exported; Envoy 1.40 runs the export and answers the same requests as wasmgate
//! does on the file. Once with exact domains (a virtual host per domain), once with a
//! wildcard domain (one virtual host, the `:authority` matched per route).
//!
//! Rules by route (`_match_route_`) cannot be compared: upstream Envoy gives its wasm filter
//! no `route_name` (the Higress-only difference of abi-probe `props`, which is left out here
//! as there).

use std::net::SocketAddr;
use std::path::PathBuf;

use wasmgate_conformance::hosts::compare;
use wasmgate_conformance::{example, fixture, Lang, Request};
use wasmgate_proxy::EchoServer;

/// The file: `domain` on the `api-*` routes and in key-auth's domain rule.
fn wasmgate_yaml(domain: &str, api: SocketAddr, backend: SocketAddr) -> String {
    let wasm = |path: PathBuf| path.display().to_string();
    format!(
        r#"
listen: 127.0.0.1:0
workers: 1
access_log: off
clusters:
  - name: outbound|80||api.static
    endpoints: ["{api}"]
  - name: backend
    endpoints: ["{backend}"]
routes:
  - name: api-login
    domains: ["{domain}"]
    path: /login
    methods: [POST]
    cluster: outbound|80||api.static
  - name: api-items
    domains: ["{domain}"]
    path_regex: "/items/[0-9]+"
    cluster: outbound|80||api.static
    host_rewrite: api.internal
  - name: beta
    path_prefix: /v2
    headers: [{{name: x-beta, exact: "1"}}]
    query_parameters: [{{name: lang, prefix: ru}}]
    cluster: backend
    host_rewrite: backend.internal
  - name: fallback
    cluster: backend
plugins:
  - name: abi-probe
    wasm: {probe}
  - name: key-auth
    wasm: {key_auth}
    config:
      consumers: [{{name: alice, credential: k1}}, {{name: bob, credential: k2}}]
      keys: [x-api-key]
      in_header: true
    rules:
      - domains: ["{domain}"]
        config: {{allow: [alice]}}
  - name: request-block
    wasm: {block}
    phase: AUTHN
    config: {{block_urls: [/secret]}}
    rules:
      - domains: [other.test]
        config: {{block_urls: [/elsewhere]}}
"#,
        probe = wasm(fixture("abi-probe")),
        key_auth = wasm(example(Lang::Rust, "key-auth")),
        block = wasm(example(Lang::Rust, "request-block")),
    )
}

/// Requests for every route and rule, on hosts of `domain` (`host`) and elsewhere.
fn requests(host: &str) -> Vec<Request> {
    let probed = |r: Request| r.header("x-probe", "props");
    let login = |key: &str| {
        Request::new("POST", "/login")
            .header("x-api-key", key)
            .body("a")
    };
    vec![
        probed(login("k1").host(host)),
        probed(login("k2").host(host)),
        probed(login("k1").host(&host.to_uppercase())),
        probed(Request::get("/login").host(host).header("x-api-key", "k1")),
        probed(Request::get("/login").host(host)),
        probed(
            Request::get("/items/42")
                .host(&format!("{host}:8080"))
                .header("x-api-key", "k1"),
        ),
        probed(
            Request::get("/items/42/x")
                .host(host)
                .header("x-api-key", "k1"),
        ),
        probed(Request::get("/v2/x?lang=rus").header("x-beta", "1")),
        probed(Request::get("/v2/x?lang=en").header("x-beta", "1")),
        probed(Request::get("/v2/x?lang=ru")),
        probed(Request::get("/secret")),
        probed(Request::get("/elsewhere").host("other.test")),
        probed(Request::get("/elsewhere").host("third.test")),
    ]
}

/// Left out of the comparison: abi-probe's Higress-only properties (see `rust_examples.rs`),
/// and `x-envoy-original-host`, which Envoy's router adds to a request whose `Host` a route
/// rewrites and wasmgate does not (found by this test; see docs/conformance.md).
const LEFT_OUT: &[&str] = &[
    "x-prop-route_name",
    "x-prop-cluster_name",
    "x-prop-x_request_id",
    "x-envoy-original-host",
];

fn round_trip(name: &str, domain: &str, host: &str) {
    let api = EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("echo starts");
    let backend = EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("echo starts");
    let dir = wasmgate_test_support::tempdir("export-round-trip");
    let file = dir.join("wasmgate.yaml");
    std::fs::write(
        &file,
        wasmgate_yaml(domain, api.local_addr(), backend.local_addr()),
    )
    .expect("the file is written");
    let mut config = wasmgate_proxy::load_config(&file).unwrap_or_else(|e| panic!("{e}"));
    // The suite's compiled-module cache, optimized code from the start (as every case).
    config.runtime.cache_dir = std::env::var_os("WASMGATE_CACHE_DIR").map(PathBuf::from);
    config.runtime.quick_start = false;
    let exchanges = compare(name, config, &requests(host));
    let differing: Vec<String> = exchanges
        .iter()
        .filter(|e| !e.differences_besides(LEFT_OUT).is_empty())
        .map(|e| e.to_string())
        .collect();
    assert!(
        differing.is_empty(),
        "{name}: Envoy on the export answers differently:\n{}",
        differing.join("\n")
    );
    // The requests reached what they were meant to: the routes, the rules, both clusters.
    let reached: Vec<(u16, String)> = exchanges
        .iter()
        .map(|e| (e.wasmgate.status, upstream_host(&e.wasmgate.body)))
        .collect();
    let expected = [
        (200, "api.test"),
        (403, ""),
        (200, "API.TEST"),
        (200, "api.test"),
        (401, ""),
        (200, "api.internal"),
        (200, "api.test"),
        (200, "backend.internal"),
        (200, "conformance.test"),
        (200, "conformance.test"),
        (403, ""),
        (403, ""),
        (200, "third.test"),
    ];
    let expected: Vec<(u16, String)> = expected
        .iter()
        .map(|(status, upstream)| {
            let upstream = upstream.replace("api.test", host);
            (*status, upstream.replace("API.TEST", &host.to_uppercase()))
        })
        .collect();
    assert_eq!(reached, expected, "{name}");
}

#[test]
fn envoy_runs_the_export_with_exact_domains_and_answers_as_wasmgate() {
    round_trip("export envoy: exact domains", "api.test", "api.test");
}

#[test]
fn envoy_runs_the_export_with_a_wildcard_domain_and_answers_as_wasmgate() {
    round_trip("export envoy: wildcard domain", "*.api.test", "eu.api.test");
}

/// The `Host` the echo upstream reports (empty for an answer that is not its report).
fn upstream_host(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|report| report["headers"]["host"].as_str().map(str::to_string))
        .unwrap_or_default()
}
