//! `wasmgate test` with scenario files, for a Go and a Rust plugin: passes, each kind of
//! failure message, and callout answers.

mod common;

use std::process::Command;

use common::tempdir;
use wasmgate_testkit::examples::{example, Lang};

fn wasmgate_test(file: &std::path::Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .arg("test")
        .arg(file)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn hello_scenario(lang: Lang, name: &str) -> String {
    format!(
        r#"plugin: {}
config: {{ mockEnable: false }}
cases:
  - name: adds the hello header
    request: {{ method: GET, path: /, headers: {{ host: example.com }} }}
    expect:
      upstream_request: {{ headers: {{ hello: world }} }}
      response: {{ status: 200 }}
  - name: the upstream's answer comes back
    upstream_response: {{ status: 201, headers: {{ x-up: "1" }}, body: created }}
    expect:
      response: {{ status: 201, headers: {{ x-up: "1" }}, body: created }}
"#,
        example(lang, name).display()
    )
}

#[test]
fn passing_scenarios_for_go_and_rust() {
    for (lang, name) in [
        (Lang::Go, "hello"),
        (Lang::Rust, "hello"),
        (Lang::Rust, "sdk-hello"),
    ] {
        let dir = tempdir("scenario");
        let file = dir.join("hello.yaml");
        std::fs::write(&file, hello_scenario(lang, name)).unwrap();
        let (ok, out) = wasmgate_test(&file);
        assert!(ok, "{out}");
        assert!(out.contains("  ok    adds the hello header"), "{out}");
        assert!(out.trim_end().ends_with("2 passed, 0 failed"), "{out}");
    }
}

#[test]
fn callouts_are_answered_from_the_scenario() {
    let go = example(Lang::Go, "http-call");
    let rust = example(Lang::Rust, "http-call");
    let scenario = format!(
        r#"plugin: {go}
config: {{ serviceSource: dns, serviceName: auth, servicePort: 8080, domain: auth.local, path: /token }}
cases:
  - name: token from the auth service
    request: {{ path: /api }}
    callouts:
      - match: {{ cluster: "outbound|8080||auth.dns", path: /token }}
        reply: {{ status: 200, headers: {{ x-token: abc }} }}
    expect:
      upstream_request: {{ headers: {{ x-token: abc }} }}
  - name: a failed call is a 500
    callouts:
      - match: {{ path: /token }}
        fail: true
    expect: {{ response: {{ status: 500, body_contains: "http call failed" }} }}
"#,
        go = go.display()
    );
    let dir = tempdir("scenario");
    let file = dir.join("go.yaml");
    std::fs::write(&file, &scenario).unwrap();
    let (ok, out) = wasmgate_test(&file);
    assert!(ok, "{out}");
    assert!(out.contains("2 passed, 0 failed"), "{out}");

    let rust_scenario = format!(
        "plugin: {}\nconfig: {{ cluster: \"outbound|8080||auth.dns\", path: /token }}\ncases:\n  - name: token\n    callouts:\n      - match: {{ cluster: \"outbound|8080||auth.dns\" }}\n        reply: {{ headers: {{ x-token: r1 }} }}\n    expect:\n      upstream_request: {{ headers: {{ x-token: r1 }} }}\n",
        rust.display()
    );
    let file = dir.join("rust.yaml");
    std::fs::write(&file, rust_scenario).unwrap();
    let (ok, out) = wasmgate_test(&file);
    assert!(ok, "{out}");
}

#[test]
fn failures_say_what_differs_and_exit_1() {
    let hello = example(Lang::Rust, "hello");
    let http_call = example(Lang::Rust, "http-call");
    let scenario = format!(
        r#"plugin: {hello}
config: {{ mockEnable: true }}
cases:
  - name: wrong status
    expect: {{ response: {{ status: 403 }} }}
  - name: wrong body
    expect: {{ response: {{ body: "goodbye" }} }}
  - name: header expected upstream
    expect: {{ upstream_request: {{ headers: {{ hello: world }} }} }}
  - name: missing log line
    expect: {{ logs_contain: ["no such line"] }}
  - name: passes
    expect: {{ response: {{ status: 200, body: "hello world" }} }}
"#,
        hello = hello.display()
    );
    let dir = tempdir("scenario");
    let file = dir.join("fail.yaml");
    std::fs::write(&file, scenario).unwrap();
    let (ok, out) = wasmgate_test(&file);
    assert!(!ok, "{out}");
    assert!(
        out.contains("response status: expected 403, got 200"),
        "{out}"
    );
    assert!(
        out.contains(r#"response body: expected "goodbye", got "hello world""#),
        "{out}"
    );
    assert!(
        out.contains("the request did not reach the upstream: the plugin replied 200"),
        "{out}"
    );
    assert!(
        out.contains(r#"no log line contains "no such line""#),
        "{out}"
    );
    assert!(out.trim_end().ends_with("1 passed, 4 failed"), "{out}");

    let unanswered = dir.join("unanswered.yaml");
    std::fs::write(
        &unanswered,
        format!(
            "plugin: {}\ncases:\n  - name: no answer\n",
            http_call.display()
        ),
    )
    .unwrap();
    let (ok, out) = wasmgate_test(&unanswered);
    assert!(!ok);
    assert!(
        out.contains("no callouts entry answers the call to outbound|8080||auth.dns GET /token"),
        "{out}"
    );

    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "plugin: x.wasm\ncases: [{ nam: typo }]\n").unwrap();
    let (ok, out) = wasmgate_test(&broken);
    assert!(!ok);
    assert!(
        out.contains("FAIL") && out.contains("unknown field `nam`"),
        "{out}"
    );
    let missing = dir.join("missing-plugin.yaml");
    std::fs::write(&missing, "plugin: nowhere.wasm\ncases: [{ name: a }]\n").unwrap();
    let (_, out) = wasmgate_test(&missing);
    assert!(
        out.contains("the plugin did not start: cannot read plugin"),
        "{out}"
    );
}

#[test]
fn a_plugin_holding_the_response_headers_gets_the_body() {
    // Higress's StopIteration from response headers (ABI 0_2_100): the headers wait, the
    // body still reaches the plugin, which replaces it at its end.
    let plugin = wasmgate_testkit::examples::conformance_go("held-response");
    let scenario = format!(
        r#"plugin: {}
cases:
  - name: the body is replaced
    upstream_response: {{ status: 200, headers: {{ content-length: "3" }}, body: abc }}
    expect:
      response: {{ status: 200, headers: {{ x-held: "yes" }}, body: "held 3 bytes: ABC" }}
"#,
        plugin.display()
    );
    let dir = tempdir("scenario");
    let file = dir.join("held.yaml");
    std::fs::write(&file, scenario).unwrap();
    let (ok, out) = wasmgate_test(&file);
    assert!(ok, "{out}");
    assert!(out.contains("1 passed, 0 failed"), "{out}");
}
