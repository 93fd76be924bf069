//! `wasmgate export higress` and `wasmgate export envoy` as a user runs them: the files they
//! write, the notes on what the target does differently, and one-line errors. The Higress
//! round trip: the exported `WasmPlugin`s, read back by wasmgate's own loader, give the same
//! plugin configurations (`_rules_` included) in the same order. (Envoy running its export:
//! `tests/conformance/tests/export.rs`.)

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{error_line, tempdir, write};
use serde_json::{json, Value};
use wasmgate_testkit::examples::{example, fixture, Lang};

fn wasmgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .args(args)
        .output()
        .expect("wasmgate runs")
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A file with every kind of plugin entry Higress has a form for.
fn config_text() -> String {
    let key_auth = path(&example(Lang::Rust, "key-auth"));
    let block = path(&example(Lang::Rust, "request-block"));
    let probe = path(&fixture("abi-probe"));
    format!(
        r#"
clusters:
  - name: outbound|8080||api.default.svc.cluster.local
    endpoints: [127.0.0.1:8080]
  - name: backend
    endpoints: [127.0.0.1:9001, 127.0.0.1:9002]
routes:
  - name: default/api
    domains: [api.example.com, "*.example.com"]
    path_prefix: /api
    methods: [GET, POST]
    headers: [{{name: x-user, exact: alice}}, {{name: x-debug, present: true}}]
    query_parameters: [{{name: v, exact: "2"}}]
    host_rewrite: api.internal
    timeout_ms: 2500
    cluster: outbound|8080||api.default.svc.cluster.local
  - name: login
    path: /login
    cluster: backend
plugins:
  - name: probe-a
    wasm: {probe}
  - name: probe-b
    wasm: {probe}
    fail_open: true
    root_id: probe-root
  - name: key-auth
    fail_policy: closed
    wasm: {key_auth}
    phase: AUTHN
    priority: 300
    config: {{consumers: [{{name: c1, credential: k1}}], keys: [x-api-key], in_header: true}}
    rules:
      - routes: [default/api]
        config: {{allow: [c1]}}
      - domains: ["*.example.com"]
        services: [api.default.svc.cluster.local:8080]
        config: {{allow: []}}
      - routes: [login]
        disabled: true
  - name: request-block
    wasm: {block}
    phase: AUTHZ
    config: {{block_urls: [/never]}}
    config_disable: true
    rules:
      - domains: [blocked.example.com]
        config: {{block_urls: [/]}}
"#
    )
}

#[test]
fn exported_wasmplugins_read_back_give_the_same_chain_and_rules() {
    let dir = tempdir("export-higress");
    let file = write(&dir, "wasmgate.yaml", config_text());
    let out = dir.join("higress");
    let run = wasmgate(&["export", "higress", "-c", &path(&file), "-o", &path(&out)]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");

    // Read back in another order: the loader orders them by phase and priority.
    let mut entries = String::from("plugins:\n");
    for name in ["probe-b", "request-block", "probe-a", "key-auth"] {
        let resource = out.join(format!("wasmplugin-{name}.yaml"));
        entries.push_str(&format!("  - wasmplugin: {}\n", path(&resource)));
    }
    let again = write(&dir, "again.yaml", entries);
    let original = wasmgate_proxy::load_config(&file).unwrap_or_else(|e| panic!("{e}"));
    let read_back = wasmgate_proxy::load_config(&again).unwrap_or_else(|e| panic!("{e}"));
    type Entry = (String, Value, wasmgate_proxy::FailPolicy, String);
    let chain = |config: &wasmgate_proxy::GatewayConfig| -> Vec<Entry> {
        config
            .plugins
            .iter()
            .map(|p| {
                let json = serde_json::from_slice(&p.config).unwrap_or(Value::Null);
                (p.name.clone(), json, p.fail_policy, p.root_id.clone())
            })
            .collect()
    };
    assert_eq!(chain(&read_back), chain(&original));
    let names: Vec<String> = chain(&original).into_iter().map(|(n, ..)| n).collect();
    assert_eq!(names, ["key-auth", "request-block", "probe-a", "probe-b"]);
    // The rules as Higress's controller builds them, disabled ones left out.
    assert_eq!(
        chain(&read_back)[0].1["_rules_"],
        json!([
            {"_match_route_": ["default/api"], "allow": ["c1"]},
            {"_match_domain_": ["*.example.com"], "_match_service_": ["api.default.svc.cluster.local:8080"], "allow": []}
        ])
    );

    let key_auth = yaml_file(&out.join("wasmplugin-key-auth.yaml"));
    assert_eq!(key_auth["apiVersion"], "extensions.higress.io/v1alpha1");
    assert_eq!(key_auth["spec"]["phase"], "AUTHN");
    assert_eq!(key_auth["spec"]["priority"], 300);
    assert_eq!(
        key_auth["spec"]["matchRules"][0]["ingress"],
        json!(["default/api"])
    );
    assert_eq!(key_auth["spec"]["sha256"].as_str().map(str::len), Some(64));
    let url = key_auth["spec"]["url"].as_str().unwrap_or_default();
    assert!(
        url.starts_with("file:///") && url.ends_with("key-auth.wasm"),
        "{url}"
    );
    // Two plugins of one phase and priority: the second gets a lower one, and a note.
    let b = yaml_file(&out.join("wasmplugin-probe-b.yaml"));
    assert_eq!(b["spec"]["priority"], -1);
    assert_eq!(b["spec"]["failStrategy"], "FAIL_OPEN");
    assert!(
        stderr.contains("note: plugin probe-b: priority 0 written as -1"),
        "{stderr}"
    );

    // The routes: an Ingress each, named so that Higress's route names are the same.
    let api = yaml_file(&out.join("ingress-default-api.yaml"));
    assert_eq!(api["metadata"]["namespace"], "default");
    assert_eq!(api["metadata"]["name"], "api");
    let annotations = &api["metadata"]["annotations"];
    assert_eq!(annotations["higress.io/match-method"], "GET POST");
    assert_eq!(annotations["higress.io/exact-match-header-x-user"], "alice");
    assert_eq!(annotations["higress.io/exact-match-query-v"], "2");
    assert_eq!(annotations["higress.io/upstream-vhost"], "api.internal");
    assert_eq!(annotations["higress.io/timeout"], "3");
    let rules = &api["spec"]["rules"];
    assert_eq!(rules[0]["host"], "api.example.com");
    assert_eq!(rules[1]["host"], "*.example.com");
    let backend = &rules[0]["http"]["paths"][0];
    assert_eq!(backend["path"], "/api");
    assert_eq!(
        backend["backend"]["service"],
        json!({"name": "api", "port": {"number": 8080}})
    );
    assert!(
        stderr.contains("route default/api: header condition on x-debug (present or inverted) has no Higress annotation"),
        "{stderr}"
    );
    let login = yaml_file(&out.join("ingress-login.yaml"));
    assert_eq!(login["metadata"]["namespace"], "higress-system");
    assert_eq!(
        login["metadata"]["annotations"]["higress.io/destination"],
        "backend.static:80"
    );
    assert_eq!(
        login["spec"]["rules"][0]["http"]["paths"][0]["pathType"],
        "Exact"
    );
    let bridge = yaml_file(&out.join("mcpbridge.yaml"));
    assert_eq!(
        bridge["spec"]["registries"],
        json!([{"name": "backend", "type": "static", "domain": "127.0.0.1:9001,127.0.0.1:9002", "port": 80}])
    );
}

#[test]
fn export_envoy_writes_a_copy_for_a_higress_marker_and_says_so() {
    let dir = tempdir("export-envoy");
    let key_auth = path(&example(Lang::Rust, "key-auth"));
    let file = write(
        &dir,
        "wasmgate.yaml",
        format!("plugins:\n  - name: key-auth\n    wasm: {key_auth}\n    config: {{keys: [k]}}\n"),
    );
    // To stdout there is nowhere to put the copy.
    let run = wasmgate(&["export", "envoy", "-c", &path(&file)]);
    assert!(!run.status.success());
    let line = error_line(&String::from_utf8_lossy(&run.stderr));
    assert_eq!(
        line,
        "error: plugin key-auth has Higress's ABI marker 0_2_100, which upstream Envoy refuses: \
         give -o DIR so that the export writes a copy marked 0_2_1 beside the bootstrap"
    );
    let out = dir.join("envoy");
    let run = wasmgate(&["export", "envoy", "-c", &path(&file), "-o", &path(&out)]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let text = std::fs::read_to_string(out.join("envoy.yaml")).expect("the bootstrap");
    assert!(
        text.starts_with("# note: plugin key-auth: Higress's ABI 0_2_100"),
        "{text}"
    );
    let bootstrap: Value = serde_yaml::from_str(&text).expect("YAML");
    let filter = &bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"][0]["typed_config"]["config"];
    let copy = filter["vm_config"]["code"]["local"]["filename"]
        .as_str()
        .unwrap_or_default();
    assert!(copy.ends_with("envoy/key-auth.abi_0_2_1.wasm"), "{copy}");
    assert!(Path::new(copy).is_file());
    assert_eq!(filter["configuration"]["value"], r#"{"keys":["k"]}"#);
}

#[test]
fn export_errors_are_one_line_that_say_what_to_change() {
    let dir = tempdir("export-errors");
    let bad = write(
        &dir,
        "bad.yaml",
        "routes:\n  - name: a\n    cluster: nowhere\n",
    );
    let run = wasmgate(&["export", "envoy", "-c", &path(&bad)]);
    let line = error_line(&String::from_utf8_lossy(&run.stderr));
    assert!(
        line.starts_with(&format!("error: {}:", path(&bad))),
        "{line}"
    );

    let named = write(
        &dir,
        "named.yaml",
        "clusters: [{name: c, endpoints: [127.0.0.1:1]}]\nroutes: [{name: Api_Route, cluster: c}]\n",
    );
    let run = wasmgate(&["export", "higress", "-c", &path(&named)]);
    assert_eq!(
        error_line(&String::from_utf8_lossy(&run.stderr)),
        "error: route name \"Api_Route\": Higress names a route after its Ingress, so write it as \
         NAME or NAMESPACE/NAME in lower-case letters, digits, '-' and '.'"
    );

    let limited = write(
        &dir,
        "limited.yaml",
        "edge: {max_connections_per_worker: 10}\n",
    );
    let run = wasmgate(&["export", "envoy", "-c", &path(&limited)]);
    assert_eq!(
        error_line(&String::from_utf8_lossy(&run.stderr)),
        "error: edge.max_connections_per_worker has no Envoy form (Envoy limits connections \
         process-wide, in its overload manager); remove it to export for Envoy"
    );
}
