//! `wasmgate run` with real HTTP: the example plugins (Go and Rust) in front of a real
//! upstream, callouts to a real service, faults that fail one request only, and the names
//! plugins get (from Higress's `NAME/VERSION/plugin.wasm` layout, or from `--name`).

mod common;

use std::net::SocketAddr;

use common::{dead_address, fixed_upstream, tempdir, Client, Running};
use wasmgate_testkit::examples::{example, fixture, Lang};

fn wasm(lang: Lang, name: &str) -> String {
    example(lang, name).display().to_string()
}

#[test]
fn hello_in_go_and_rust_adds_its_header_or_answers_itself() {
    for lang in [Lang::Go, Lang::Rust] {
        let plugin = wasm(lang, "hello");
        let start = |flag: &str, config: &str| {
            Running::start(&["--plugin", &plugin, flag, config, "--upstream", "echo"])
        };
        let gateway = start("--config-json", r#"{"mockEnable": false}"#);
        let response = gateway.get("/anything", &[]);
        assert_eq!(response.status, 200, "{lang:?}: {}", response.text());
        assert_eq!(
            response.upstream_header("hello").as_deref(),
            Some("world"),
            "{lang:?}"
        );
        assert_eq!(response.echoed()["path"], "/anything");

        let dir = tempdir("cli");
        let config = dir.join("config.yaml");
        std::fs::write(&config, "mockEnable: true\n").unwrap();
        let gateway = start("--config", config.to_str().unwrap());
        let response = gateway.get("/", &[]);
        assert_eq!(response.status, 200, "{lang:?}");
        assert_eq!(response.text(), "hello world", "{lang:?}");
    }
}

#[test]
fn http_call_in_go_and_rust_copies_the_token_and_fails_with_500_when_the_service_is_down() {
    let token_service = fixed_upstream(200, &[("x-token", "tok-123")], "");
    let down = dead_address();
    let go_config = r#"{"serviceSource": "dns", "serviceName": "auth", "servicePort": 8080, "domain": "auth.local", "path": "/token"}"#;
    let rust_config = r#"{"cluster": "outbound|8080||auth.dns", "path": "/token"}"#;
    let sdk_config = r#"{"serviceSource": "dns", "serviceName": "auth", "servicePort": 8080, "domain": "auth.local", "requestPath": "/token", "tokenHeader": "x-token"}"#;
    for (lang, name, config) in [
        (Lang::Go, "http-call", go_config),
        (Lang::Rust, "http-call", rust_config),
        (Lang::Rust, "sdk-http-call", sdk_config),
    ] {
        let plugin = wasm(lang, name);
        // The gateway, with the plugin's auth service at `auth`.
        let start = |auth: SocketAddr| {
            let cluster = format!("outbound|8080||auth.dns={auth}");
            Running::start(&[
                "--plugin",
                &plugin,
                "--config-json",
                config,
                "--upstream",
                "echo",
                "--cluster",
                &cluster,
            ])
        };
        let gateway = start(token_service);
        let response = gateway.get("/api", &[]);
        assert_eq!(response.status, 200, "{lang:?}: {}", response.text());
        assert_eq!(
            response.upstream_header("x-token").as_deref(),
            Some("tok-123"),
            "{lang:?}"
        );

        let gateway = start(down);
        let response = gateway.get("/api", &[]);
        assert_eq!(response.status, 500, "{lang:?}");
        assert_eq!(response.text(), "http call failed", "{lang:?}");
    }
}

#[test]
fn a_chain_runs_in_order_and_both_directions() {
    let hello = wasm(Lang::Go, "hello");
    let minimal = wasm(Lang::Rust, "minimal");
    let gateway = Running::start(&[
        "--plugin",
        &hello,
        "--config-json",
        "{}",
        "--plugin",
        &minimal,
        "--upstream",
        "echo",
    ]);
    let response = gateway.request(
        "POST",
        "/post",
        &[("content-type", "text/plain")],
        b"payload",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-minimal"), Some("1"));
    assert_eq!(response.upstream_header("hello").as_deref(), Some("world"));
    assert_eq!(response.upstream_header("x-minimal").as_deref(), Some("1"));
    assert_eq!(response.echoed()["body"], "payload");
}

#[test]
fn abi_probe_bodies_and_properties_over_real_http() {
    let probe = fixture("abi-probe").display().to_string();
    let gateway = Running::start(&[
        "--plugin",
        &probe,
        "--upstream",
        "echo",
        "--route-name",
        "r1",
        "--cluster-name",
        "outbound|80||svc.dns",
    ]);
    let response = gateway.request("POST", "/p?q=1", &[("x-probe", "body")], b"original body");
    assert_eq!(response.status, 200);
    let text = response.text();
    let echoed = text
        .strip_suffix("-tail")
        .unwrap_or_else(|| panic!("no -tail: {text}"));
    let echoed: serde_json::Value = serde_json::from_str(echoed).unwrap();
    assert_eq!(echoed["body"], "replaced");
    assert_eq!(
        response.header("content-length"),
        Some(response.body.len().to_string().as_str())
    );

    let response = gateway.get("/props", &[("x-probe", "props"), ("user-agent", "t/1")]);
    assert_eq!(
        response.upstream_header("x-prop-route_name").as_deref(),
        Some("r1")
    );
    assert_eq!(
        response.upstream_header("x-prop-cluster_name").as_deref(),
        Some("outbound|80||svc.dns")
    );
    assert_eq!(
        response.upstream_header("x-prop-request.path").as_deref(),
        Some("/props")
    );
    assert_eq!(
        response
            .upstream_header("x-prop-request.headers.user-agent")
            .as_deref(),
        Some("t/1")
    );
    assert!(response
        .upstream_header("x-prop-source.address")
        .unwrap()
        .starts_with("127.0.0.1:"));

    let response = gateway.get("/", &[("x-probe", "local-reply")]);
    assert_eq!(response.status, 418);
    assert_eq!(response.header("x-local"), Some("yes"));
    assert_eq!(response.text(), "teapot");

    // A header read after its phase is refused as in Envoy, and the log says so once.
    let response = gateway.get("/", &[("x-probe", "map-scope"), ("x-request-id", "rid-s")]);
    assert_eq!(response.header("x-scope-request-header"), Some("status:2"));
    let expected = "proxy_get_header_map_value on the request headers was refused";
    let line = gateway.log_line("report", |l| l.contains(expected));
    assert!(
        line.contains("rid-s") && line.contains("abi-probe"),
        "{line}"
    );
}

#[test]
fn faults_fail_one_request_and_the_gateway_keeps_serving() {
    let faults = fixture("faults").display().to_string();
    let gateway = Running::start(&[
        "--plugin",
        &faults,
        "--upstream",
        "echo",
        // Long enough for `oom` to fill its 64 MiB on a loaded machine before the limit.
        "--call-timeout-ms",
        "1000",
        "--memory-limit-mb",
        "64",
        "--workers",
        "1",
    ]);
    for fault in ["trap", "loop", "oom"] {
        let response = gateway.get("/", &[("x-fault", fault)]);
        assert_eq!(response.status, 503, "{fault}: {}", response.text());
        assert_eq!(response.text(), "", "{fault}");
        let response = gateway.get("/", &[]);
        assert_eq!(response.status, 200, "after {fault}: {}", response.text());
    }
    let response = gateway.get("/", &[("x-fault", "oob")]);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.upstream_header("x-oob-status").as_deref(),
        Some("6")
    );
    // The lines reach the test through a thread that drains the gateway's stderr: wait for
    // them rather than read what has arrived so far.
    let crash = "plugin faults crashed in proxy_on_request_headers";
    gateway.log_line("crash", |l| l.contains(crash));
    gateway.log_line("time limit", |l| l.contains("time limit"));
    gateway.log_line("memory limit", |l| l.contains("memory limit"));
}

#[test]
fn fail_open_passes_the_request_on() {
    let faults = fixture("faults").display().to_string();
    let gateway = Running::start(&["--plugin", &faults, "--upstream", "echo", "--fail-open"]);
    let response = gateway.get("/", &[("x-fault", "trap")]);
    assert_eq!(response.status, 200, "{}", response.text());
}

#[test]
fn upstream_down_is_a_503_that_plugins_still_see() {
    let minimal = wasm(Lang::Rust, "minimal");
    let down = format!("http://{}", dead_address());
    let gateway = Running::start(&["--plugin", &minimal, "--upstream", &down]);
    let response = gateway.get("/", &[]);
    assert_eq!(response.status, 503);
    assert_eq!(response.header("x-minimal"), Some("1"));
}

#[test]
fn ctrl_c_stops_cleanly() {
    let minimal = wasm(Lang::Rust, "minimal");
    let mut gateway = Running::start(&["--plugin", &minimal, "--upstream", "echo"]);
    assert_eq!(gateway.get("/", &[]).status, 200);
    common::signal(&gateway.child, "INT");
    let status = gateway.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_plugin_is_named_after_its_higress_directory_or_its_name_flag() {
    let dir = tempdir("names");
    let versioned = dir.join("my-plugin/1.0.0");
    std::fs::create_dir_all(&versioned).unwrap();
    let plugin = versioned.join("plugin.wasm");
    std::fs::copy(fixture("abi-probe"), &plugin).unwrap();
    let plugin = plugin.display().to_string();
    let plugin_name = |gateway: &Running| {
        let response = gateway.get("/", &[("x-probe", "props")]);
        response.upstream_header("x-prop-plugin_name")
    };

    let gateway = Running::start(&["--plugin", &plugin, "--upstream", "echo"]);
    assert!(
        gateway.banner.ends_with("(plugins: my-plugin)"),
        "{}",
        gateway.banner
    );
    assert_eq!(plugin_name(&gateway).as_deref(), Some("my-plugin"));

    // Each --name names the --plugin before it; the other keeps its own name.
    let minimal = wasm(Lang::Rust, "minimal");
    let named = [
        "--plugin",
        &plugin,
        "--name",
        "key-auth",
        "--config-json",
        "{}",
    ];
    let rest = ["--plugin", &minimal, "--upstream", "echo"];
    let gateway = Running::start(&[&named[..], &rest[..]].concat());
    assert!(
        gateway.banner.ends_with("(plugins: key-auth, minimal)"),
        "{}",
        gateway.banner
    );
    assert_eq!(plugin_name(&gateway).as_deref(), Some("key-auth"));
}

#[test]
fn an_https_run_serves_http2_and_http1_through_the_plugin() {
    let dir = tempdir("cli-https");
    let pki = common::Pki::new(&dir);
    let server = pki.server("localhost", &["localhost"]);
    let plugin = wasm(Lang::Rust, "sdk-hello");
    let (cert, key) = (
        server.cert.display().to_string(),
        server.key.display().to_string(),
    );
    let args = [
        "--plugin",
        &plugin,
        "--upstream",
        "echo",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ];
    let gateway = Running::start(&args);
    assert!(
        gateway.banner.starts_with("wasmgate listening on https://"),
        "{}",
        gateway.banner
    );
    let port = gateway.address.port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/anything");
    let ca = pki.ca_file.display().to_string();
    for version in ["--http2", "--http1.1"] {
        let answer = common::curl(&["--cacert", &ca, "--resolve", &resolve, version, &url]);
        assert_eq!(answer.status, 200, "{version}: {answer:?}");
        assert_eq!(answer.upstream_header("hello").as_deref(), Some("world"));
        assert_eq!(
            answer.upstream_header("x-forwarded-proto").as_deref(),
            Some("https")
        );
        let expected = if version == "--http2" { "2" } else { "1.1" };
        assert_eq!(answer.version, expected);
    }

    // A key that is not the certificate's: one line saying which files, and no start.
    let other = pki.server("other", &["other.test"]);
    let key = other.key.display().to_string();
    let args = [
        "--plugin",
        &plugin,
        "--upstream",
        "echo",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ];
    let error = Running::try_start(&args).err().expect("refused");
    assert!(
        error.contains("does not go with the certificate"),
        "{error}"
    );
}
