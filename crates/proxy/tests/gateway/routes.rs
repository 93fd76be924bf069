//! Where a request goes through a gateway started from `wasmgate.yaml`: routes and domains,
//! plugin rules picked per route, domain and service, Higress WasmPlugin resources,
//! callouts to a cluster by alias, a plugin's path rewrite picking the route again, and the
//! admin endpoints' counts; routes that match methods, headers and query parameters, also
//! as a plugin left them.

use std::net::SocketAddr;
use std::path::Path;

use crate::common::{
    echo, fixed_upstream, request, start, start_with, tempdir, write, Client, Config, Response,
    Running,
};
use wasmgate_testkit::examples::{example, fixture, Lang};

fn two_route_config(echo: SocketAddr, hello: &Path, admin: bool) -> String {
    let admin = if admin { "admin: 127.0.0.1:0\n" } else { "" };
    format!(
        r#"listen: 127.0.0.1:0
{admin}workers: 2
access_log: json
clusters:
  - name: outbound|80||echo.dns
    endpoints: [{echo}]
    aliases: [echo]
  - name: outbound|80||other.dns
    endpoints: [{echo}]
routes:
  - name: api
    domains: ["api.example.com"]
    path_prefix: /api
    cluster: echo
  - name: other
    domains: ["other.example.com"]
    cluster: outbound|80||other.dns
  - name: default
    cluster: echo
plugins:
  - name: hello
    wasm: {hello}
    config: {{ mockEnable: false }}
    rules:
      - routes: [api]
        config: {{ mockEnable: true }}
      - domains: ["*.mock.com"]
        config: {{ mockEnable: true }}
      - services: ["other.dns"]
        config: {{ mockEnable: true }}
"#,
        hello = hello.display()
    )
}

/// Whether the hello plugin answered itself (its rule config had mockEnable) or let the
/// request through with its header.
fn mocked(response: &Response) -> bool {
    if response.text() == "hello world" {
        return true;
    }
    assert_eq!(
        response.upstream_header("hello").as_deref(),
        Some("world"),
        "{}",
        response.text()
    );
    false
}

#[test]
fn rules_pick_the_config_per_route_domain_and_service() {
    for lang in [Lang::Go, Lang::Rust] {
        let upstream = echo();
        let dir = tempdir("rules");
        let name = if lang == Lang::Go {
            "hello"
        } else {
            "sdk-hello"
        };
        let gateway = start_with(
            &dir,
            &two_route_config(upstream.local_addr(), &example(lang, name), false),
        );
        let cases = [
            ("api.example.com", "/api/x", true, "route rule"),
            (
                "api.example.com",
                "/v2",
                false,
                "other path: default route, global config",
            ),
            ("www.mock.com", "/", true, "domain rule"),
            ("other.example.com", "/", true, "service rule"),
            ("plain.com", "/", false, "no rule: global"),
        ];
        for (host, path, expect_mock, why) in cases {
            let response = gateway.get_host(host, path);
            assert_eq!(response.status, 200, "{lang:?} {why}");
            assert_eq!(
                mocked(&response),
                expect_mock,
                "{lang:?} {host}{path}: {why}"
            );
        }
        let upstream_path = gateway.get_host("plain.com", "/q?x=1").echoed()["path"].clone();
        assert_eq!(upstream_path, "/q?x=1");
    }
}

#[test]
fn a_wasmplugin_resource_is_used_as_it_is() {
    let upstream = echo();
    let dir = tempdir("wasmplugin");
    let hello = example(Lang::Go, "hello");
    write(
        &dir,
        "hello-plugin.yaml",
        format!(
            r#"apiVersion: extensions.higress.io/v1alpha1
kind: WasmPlugin
metadata:
  name: hello
  namespace: higress-system
spec:
  url: file://{}
  phase: AUTHN
  priority: 100
  failStrategy: FAIL_CLOSE
  defaultConfig:
    mockEnable: false
  matchRules:
    - ingress: [api]
      config:
        mockEnable: true
    - domain: ["*.off.com"]
      configDisable: true
      config:
        mockEnable: true
"#,
            hello.display()
        ),
    );
    let config = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .route("api", "echo", &["path_prefix: /api"])
        .route("default", "echo", &[])
        .wasmplugin("hello-plugin.yaml");
    let gateway = start(&config, &dir);
    assert!(mocked(&gateway.get_host("a.com", "/api")));
    assert!(!mocked(&gateway.get_host("a.com", "/web")));
    assert!(
        !mocked(&gateway.get_host("x.off.com", "/web")),
        "a disabled rule is left out"
    );
}

#[test]
fn callouts_reach_a_named_cluster_by_alias() {
    let upstream = echo();
    let token = fixed_upstream(200, &[("x-token", "from-cluster")], "");
    let dir = tempdir("callout");
    let config = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .cluster("auth-service", token, &["aliases: [auth]"])
        .route("default", "echo", &[])
        .plugin(
            "go-http-call",
            example(Lang::Go, "http-call"),
            &["config: { serviceSource: dns, serviceName: auth, servicePort: 8080, domain: auth.local, path: /token }"],
        );
    let gateway = start(&config, &dir);
    let response = gateway.get("/", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.upstream_header("x-token").as_deref(),
        Some("from-cluster")
    );
}

#[test]
fn metrics_count_requests_and_admin_answers() {
    let upstream = echo();
    let dir = tempdir("metrics");
    let gateway = start_with(
        &dir,
        &two_route_config(upstream.local_addr(), &example(Lang::Go, "hello"), true),
    );
    let admin = gateway.gateway().admin_addr().expect("an admin address");
    for _ in 0..5 {
        assert_eq!(gateway.get_host("plain.com", "/").status, 200);
    }
    for _ in 0..3 {
        assert_eq!(gateway.get_host("api.example.com", "/api").status, 200);
    }
    assert_eq!(request(admin, "GET", "/healthz", &[], b"").status, 200);
    assert_eq!(request(admin, "GET", "/ready", &[], b"").status, 200);
    let metrics = request(admin, "GET", "/metrics", &[], b"");
    assert_eq!(metrics.status, 200);
    let samples = parse_prometheus(&metrics.text());
    assert_eq!(
        samples.get(r#"wasmgate_requests_total{route="default",code="200"}"#),
        Some(&5.0),
        "{}",
        metrics.text()
    );
    assert_eq!(
        samples.get(r#"wasmgate_requests_total{route="api",code="200"}"#),
        Some(&3.0)
    );
    assert_eq!(
        samples.get(r#"wasmgate_request_duration_seconds_count{route="default"}"#),
        Some(&5.0)
    );
}

/// Parses Prometheus/OpenMetrics text; panics on a line that is neither a comment nor a sample.
fn parse_prometheus(text: &str) -> std::collections::HashMap<String, f64> {
    let mut samples = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in {line}"));
        let metric = name.split('{').next().unwrap();
        assert!(
            metric
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        samples.insert(name.to_string(), value);
    }
    samples
}

/// A plugin that rewrites `:path` sends the request to the route the new path matches (Envoy
/// clears its route cache on a header change), unless it turned that off (Higress's
/// `clear_route_cache: off`).
#[test]
fn a_rewritten_path_picks_its_route_again() {
    let default = echo();
    let other = fixed_upstream(200, &[("x-from", "other")], "from the other route");
    let dir = tempdir("reroute");
    let probe = fixture("abi-probe");
    let config = Config::new()
        .cluster("echo", default.local_addr(), &[])
        .cluster("other", other, &[])
        .route("to-other", "other", &["path_prefix: /other"])
        .route("to-b", "echo", &["path_prefix: /b"])
        .route("default", "echo", &[])
        .plugin("probe", &probe, &[])
        .plugin("probe-2", &probe, &[]);
    let gateway = start(&config, &dir);
    let moved = gateway.get(
        "/start",
        &[("x-probe", "rewrite"), ("x-rewrite-to", "/other/x")],
    );
    assert_eq!(moved.status, 200);
    assert_eq!(moved.header("x-from"), Some("other"), "{}", moved.text());
    assert_eq!(moved.text(), "from the other route");

    // The second plugin already reads the route the first one's rewrite picked.
    let stayed = gateway.get("/start", &[("x-probe", "rewrite"), ("x-rewrite-to", "/b")]);
    assert_eq!(stayed.echoed()["path"], "/b");
    assert_eq!(
        stayed.upstream_header("x-route-before").as_deref(),
        Some("default,to-b")
    );

    // Higress's `clear_route_cache: off`: the plugin's change keeps the route.
    let kept = gateway.get(
        "/start",
        &[
            ("x-probe", "rewrite"),
            ("x-rewrite-to", "/other/x"),
            ("x-keep-route", "1"),
        ],
    );
    assert_eq!(kept.echoed()["path"], "/other/x", "{}", kept.text());
}

/// A gateway with an echo upstream (`default`) and another (`x-from: other`) that the route
/// `to-other`, taking requests that pass `conditions`, goes to.
fn conditional_route(conditions: &[&str]) -> (Running, wasmgate_proxy::EchoServer) {
    let default = echo();
    let other = fixed_upstream(200, &[("x-from", "other")], "from the other route");
    let config = Config::new()
        .cluster("echo", default.local_addr(), &[])
        .cluster("other", other, &[])
        .route("to-other", "other", conditions)
        .route("default", "echo", &[]);
    (start(&config, &tempdir("conditions")), default)
}

/// Whether the request went to the `to-other` route's upstream.
fn went_to_other(response: &Response) -> bool {
    assert_eq!(response.status, 200, "{response}");
    response.header("x-from") == Some("other")
}

#[test]
fn a_header_route_takes_requests_whose_headers_match() {
    let (gateway, _echo) = conditional_route(&[
        "headers:",
        "  - {name: X-User, exact: alice}",
        "  - {name: x-tier, prefix: gold}",
        "  - {name: x-id, regex: \"[0-9]+\"}",
        "  - {name: x-skip, present: false}",
        "  - {name: x-env, exact: prod, invert: true}",
    ]);
    let good = [
        ("x-user", "alice"),
        ("x-tier", "gold-1"),
        ("x-id", "42"),
        ("x-env", "staging"),
    ];
    assert!(went_to_other(&gateway.get("/", &good)));
    // Each case changes one header of `good`.
    let cases: [(&str, Option<&str>, &str); 7] = [
        ("x-user", Some("Alice"), "values are case-sensitive"),
        ("x-user", None, "x-user missing"),
        ("x-tier", Some("silver"), "not the prefix"),
        ("x-id", Some("4a"), "the regex matches the whole value"),
        ("x-skip", Some(""), "x-skip present, even empty"),
        ("x-env", Some("prod"), "the inverted value"),
        (
            "x-env",
            None,
            "an absent header matches no inverted value (as Envoy)",
        ),
    ];
    for (name, value, why) in cases {
        let mut headers: Vec<(&str, &str)> =
            good.iter().filter(|(n, _)| *n != name).copied().collect();
        if let Some(value) = value {
            headers.push((name, value));
        }
        let response = gateway.get("/", &headers);
        assert!(!went_to_other(&response), "{why}: {response}");
        assert_eq!(response.echoed()["path"], "/", "{why}");
    }
    let mut twice = good.to_vec();
    twice.push(("x-user", "bob"));
    assert!(
        !went_to_other(&gateway.get("/", &twice)),
        "x-user is alice,bob"
    );
    let mut upper = good.to_vec();
    upper[0].0 = "X-USER";
    assert!(
        went_to_other(&gateway.get("/", &upper)),
        "names are case-insensitive"
    );
}

#[test]
fn a_query_route_takes_requests_whose_parameters_match() {
    let (gateway, _echo) = conditional_route(&[
        "query_parameters:",
        "  - {name: v, exact: \"2\"}",
        "  - {name: debug, present: true}",
        "  - {name: q, regex: \"[a-z%0-9]+\"}",
    ]);
    for (path, expected, why) in [
        ("/x?v=2&debug&q=abc", true, "all match, debug without ="),
        ("/x?q=a%20b&debug=1&v=2", true, "any order, the raw value"),
        ("/x?v=2&q=abc", false, "debug missing"),
        ("/x?v=3&debug&q=abc", false, "another v"),
        ("/x?v=3&v=2&debug&q=abc", false, "the first v counts"),
        ("/x?V=2&debug&q=abc", false, "names are case-sensitive"),
        ("/x?v=2&debug&q=ABC", false, "regex in full, case-sensitive"),
        ("/x", false, "no query"),
    ] {
        let response = gateway.get(path, &[]);
        assert_eq!(
            went_to_other(&response),
            expected,
            "{path}: {why}: {response}"
        );
    }
}

#[test]
fn a_method_route_takes_the_methods_it_lists() {
    let (gateway, _echo) = conditional_route(&["methods: [POST, PUT]", "path_prefix: /api"]);
    assert!(went_to_other(&gateway.request(
        "POST",
        "/api/x",
        &[],
        b"{}"
    )));
    assert!(went_to_other(&gateway.request("PUT", "/api/x", &[], b"{}")));
    let get = gateway.request("GET", "/api/x", &[], b"");
    assert!(!went_to_other(&get));
    assert_eq!(get.echoed()["method"], "GET", "{get}");
    assert!(!went_to_other(&gateway.request("POST", "/web", &[], b"{}")));
}

/// A header a plugin adds picks the route again: the route it matches now takes the request.
#[test]
fn a_header_a_plugin_adds_picks_the_route_again() {
    let default = echo();
    let other = fixed_upstream(200, &[("x-from", "other")], "from the other route");
    let config = Config::new()
        .cluster("echo", default.local_addr(), &[])
        .cluster("other", other, &[])
        .route(
            "by-header",
            "other",
            &["headers: [{name: hello, exact: world}]"],
        )
        .route("default", "echo", &[])
        .plugin(
            "hello",
            example(Lang::Go, "hello"),
            &["config: { mockEnable: false }"],
        );
    let gateway = start(&config, &tempdir("rematch-headers"));
    // hello adds `hello: world` to every request: the header route takes it.
    assert!(went_to_other(&gateway.get("/", &[])));

    // Without hello's header, a query the probe's rewrite adds picks the query route.
    let config = Config::new()
        .cluster("echo", default.local_addr(), &[])
        .cluster("other", other, &[])
        .route(
            "by-query",
            "other",
            &["query_parameters: [{name: v, exact: \"2\"}]"],
        )
        .route("default", "echo", &[])
        .plugin("probe", fixture("abi-probe"), &[]);
    let gateway = start(&config, &tempdir("rematch-query"));
    let moved = gateway.get(
        "/start",
        &[("x-probe", "rewrite"), ("x-rewrite-to", "/p?v=2")],
    );
    assert!(went_to_other(&moved), "{moved}");
    let stayed = gateway.get(
        "/start",
        &[("x-probe", "rewrite"), ("x-rewrite-to", "/p?v=3")],
    );
    assert!(!went_to_other(&stayed));
    assert_eq!(stayed.echoed()["path"], "/p?v=3");
}
