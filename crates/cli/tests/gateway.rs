//! `wasmgate run -c wasmgate.yaml` over real sockets: routes and domains, plugin rules picked
//! per route, domain and service, WasmPlugin resources, the admin endpoints, reloads under
//! traffic, and configuration errors with file and line.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    echo, exchange, free_port, request, start_with, tempdir, write, Body, Config, Running,
};
use wasmgate_testkit::examples::{example, Lang};

fn two_route_config(echo: SocketAddr, hello: &Path, admin: bool) -> String {
    let port = free_port();
    let admin = if admin {
        format!("admin: 127.0.0.1:{}\n", free_port())
    } else {
        String::new()
    };
    format!(
        r#"listen: 127.0.0.1:{port}
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

fn get_host(gateway: &Running, host: &str, path: &str) -> common::Response {
    // `Running::get` sends the gateway address as the host; a second host header would be
    // ambiguous, so this sends the given host instead.
    exchange(gateway.address, host, "GET", path, &[], Body::Whole(b""))
}

/// A `POST /` to the gateway with this host.
fn post(gateway: &Running, host: &str, headers: &[(&str, &str)], body: Body) -> common::Response {
    exchange(gateway.address, host, "POST", "/", headers, body)
}

/// Whether the hello plugin answered itself (its rule config had mockEnable) or let the
/// request through with its header.
fn mocked(response: &common::Response) -> bool {
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
            let response = get_host(&gateway, host, path);
            assert_eq!(response.status, 200, "{lang:?} {why}");
            assert_eq!(
                mocked(&response),
                expect_mock,
                "{lang:?} {host}{path}: {why}"
            );
        }
        let upstream_path = get_host(&gateway, "plain.com", "/q?x=1").echoed()["path"].clone();
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
    let gateway = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .route("api", "echo", &["path_prefix: /api"])
        .route("default", "echo", &[])
        .wasmplugin("hello-plugin.yaml")
        .start(&dir);
    assert!(mocked(&get_host(&gateway, "a.com", "/api")));
    assert!(!mocked(&get_host(&gateway, "a.com", "/web")));
    assert!(
        !mocked(&get_host(&gateway, "x.off.com", "/web")),
        "a disabled rule is left out"
    );
}

#[test]
fn callouts_reach_a_named_cluster_by_alias() {
    let upstream = echo();
    let token = common::fixed_upstream(200, &[("x-token", "from-cluster")], "");
    let dir = tempdir("callout");
    let gateway = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .cluster("auth-service", token, &["aliases: [auth]"])
        .route("default", "echo", &[])
        .plugin(
            "go-http-call",
            example(Lang::Go, "http-call"),
            &["config: { serviceSource: dns, serviceName: auth, servicePort: 8080, domain: auth.local, path: /token }"],
        )
        .start(&dir);
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
    let admin = gateway.admin.expect("an admin address");
    for _ in 0..5 {
        assert_eq!(get_host(&gateway, "plain.com", "/").status, 200);
    }
    for _ in 0..3 {
        assert_eq!(get_host(&gateway, "api.example.com", "/api").status, 200);
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

#[test]
fn a_reload_under_traffic_loses_no_request() {
    let upstream = echo();
    let dir = tempdir("reload");
    let hello = example(Lang::Go, "hello");
    let routed = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .route("default", "echo", &[]);
    let config_text = |mock: bool| {
        let config = format!("config: {{ mockEnable: {mock} }}");
        routed.clone().plugin("hello", &hello, &[&config]).text()
    };
    let gateway = start_with(&dir, &config_text(false));
    let address = gateway.address;
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut results = Vec::new();
            // Until told to stop: the traffic must span both reloads, however fast it goes.
            while !stop.load(Ordering::Relaxed) {
                let response = request(address, "GET", "/", &[], b"");
                results.push((response.status, response.text() == "hello world"));
            }
            results
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // The file changes: the gateway notices and reloads.
    write(&dir, "wasmgate.yaml", config_text(true));
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(address, "GET", "/", &[], b"").text() != "hello world" {
        assert!(
            Instant::now() < deadline,
            "the change was not picked up: {}",
            gateway.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGHUP reloads too.
    write(&dir, "wasmgate.yaml", config_text(false));
    common::signal(&gateway.child, "HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(address, "GET", "/", &[], b"").text() == "hello world" {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let results = traffic.join().unwrap();
    assert!(results.len() > 20, "only {} requests sent", results.len());
    let failed: Vec<_> = results
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        results.len()
    );
    assert!(
        results.iter().any(|(_, mocked)| *mocked) && results.iter().any(|(_, mocked)| !*mocked)
    );

    // A bad configuration is refused and the gateway keeps the old one.
    write(&dir, "wasmgate.yaml", "listen: [not an address\n");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(request(address, "GET", "/", &[], b"").status, 200);
    assert!(
        gateway.stderr.lock().unwrap().contains("reload of"),
        "the refusal is logged"
    );
}

#[test]
fn bodies_stream_unless_a_plugin_buffers_past_the_limit_and_unrouted_requests_get_404() {
    let upstream = echo();
    let dir = tempdir("limits");
    let gateway = Config::new()
        .setting("body_limit_bytes: 100")
        .cluster("echo", upstream.local_addr(), &[])
        .route("only-a", "echo", &["domains: [a.com]"])
        .plugin("probe", example(Lang::Rust, "abi-probe"), &[])
        .start(&dir);
    let big = vec![b'x'; 5000];
    // No plugin holds the body: it streams through, whatever its size.
    let response = post(&gateway, "a.com", &[], Body::Whole(&big));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.echoed()["body"].as_str().unwrap().len(), 5000);
    // The probe buffers the body until its end: holding more than the limit is a 413.
    let response = post(
        &gateway,
        "a.com",
        &[("x-probe", "body")],
        Body::Chunked(&[&big, &big]),
    );
    assert_eq!(response.status, 413, "{}", response.text());
    // Streamed in chunks without a plugin holding them, the body arrives whole.
    let response = post(
        &gateway,
        "a.com",
        &[],
        Body::Chunked(&[b"one-", b"two-", b"three"]),
    );
    assert_eq!(response.echoed()["body"], "one-two-three");
    // Under the limit the buffered body is replaced.
    let response = post(
        &gateway,
        "a.com",
        &[("x-probe", "body")],
        Body::Whole(b"small"),
    );
    assert_eq!(response.status, 200);
    assert!(response.text().ends_with("-tail"));
    assert_eq!(get_host(&gateway, "b.com", "/").status, 404);
}

/// Asserts that `wasmgate run -c` refuses `text` (with the `extra` files beside it) with an
/// error line that names `place` (`file:line`) and says `reason`.
#[track_caller]
fn assert_refused(text: &str, extra: &[(&str, &[u8])], place: &str, reason: &str) {
    let dir = tempdir("badconfig");
    for (name, contents) in extra {
        write(&dir, name, contents);
    }
    let file = write(&dir, "wasmgate.yaml", text);
    let line = match Running::try_start_file(&file) {
        Ok(_) => panic!("started with a bad configuration:\n{text}"),
        Err(e) => {
            let at = e
                .find("error: ")
                .unwrap_or_else(|| panic!("no error line: {e}"));
            e[at..].lines().next().unwrap().to_string()
        }
    };
    assert!(line.contains(place) && line.contains(reason), "{line}");
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
        "plugins:\n  - wasmplugin: remote.yaml\n",
        &[("remote.yaml", b"spec:\n  url: oci://registry/plugin:1.0\n")],
        "remote.yaml:2",
        "not supported locally",
    );
}

#[test]
fn the_access_log_carries_custom_log_attributes() {
    let upstream = echo();
    let dir = tempdir("accesslog");
    let gateway = Config::new()
        .setting("access_log: json")
        .cluster("echo", upstream.local_addr(), &[])
        .route("r1", "echo", &[])
        .plugin("probe", example(Lang::Rust, "abi-probe"), &[])
        .start(&dir);
    assert_eq!(
        gateway
            .get(
                "/logged",
                &[("x-probe", "props"), ("x-request-id", "rid-42")]
            )
            .status,
        200
    );
    let line = gateway.log_line("access log line", |l| {
        l.contains("rid-42") && l.contains("\"path\":\"/logged\"")
    });
    let json = &line[line.find('{').unwrap()..];
    let entry: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(entry["k"], "v", "{line}");
    assert_eq!(entry["route"], "r1");
    assert_eq!(entry["status"], 200);
    assert_eq!(entry["upstream"], upstream.local_addr().to_string());
}

#[test]
fn a_response_streams_through_the_plugins_as_it_arrives() {
    use std::io::{BufRead, BufReader, Read, Write};
    // An upstream that sends the first chunk, then waits for the test before the second.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap();
    let (release, released) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n6\r\nfirst\n\r\n")
            .unwrap();
        released.recv().unwrap();
        stream.write_all(b"7\r\nsecond\n\r\n0\r\n\r\n").unwrap();
    });
    let dir = tempdir("stream");
    let gateway = Config::new()
        .cluster("sse", upstream, &[])
        .route("r", "sse", &[])
        .plugin("minimal", example(Lang::Rust, "minimal"), &[])
        .start(&dir);
    let mut stream = std::net::TcpStream::connect(gateway.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("the head arrives before the upstream finishes");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    assert!(head.contains("x-minimal: 1"), "{head}");
    let mut size = String::new();
    reader.read_line(&mut size).unwrap();
    let mut first = String::new();
    reader
        .read_line(&mut first)
        .expect("the first chunk arrives before the upstream sends the second");
    assert_eq!(first, "first\n");
    release.send(()).unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("second\n"), "{rest}");
}

#[test]
fn a_slow_upstream_is_a_504_and_route_buffer_limits_apply() {
    // An upstream that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let upstream = echo();
    let dir = tempdir("timeouts");
    let gateway = Config::new()
        .cluster("silent", silent, &[])
        .cluster("echo", upstream.local_addr(), &[])
        .route("slow", "silent", &["path_prefix: /slow", "timeout_ms: 300"])
        .route("small", "echo", &["buffer_limit_bytes: 10"])
        .plugin("minimal", example(Lang::Rust, "minimal"), &[])
        .plugin("probe", example(Lang::Rust, "abi-probe"), &[])
        .start(&dir);
    let response = gateway.get("/slow", &[]);
    assert_eq!(response.status, 504);
    assert_eq!(
        response.header("x-minimal"),
        Some("1"),
        "plugins see the local reply"
    );
    let response = post(
        &gateway,
        "a.com",
        &[("x-probe", "body")],
        Body::Chunked(&[b"0123456789", b"abcdef"]),
    );
    assert_eq!(response.status, 413);
}

/// A Higress-ABI plugin that holds the request headers with `StopIteration` and lets them go
/// from its body phase once it saw the whole body.
const HEADERS_WAIT_FOR_BODY: &str = r#"
(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "x-body-seen")
  (data (i32.const 32) "yes")
  (func (export "proxy_abi_version_0_2_100"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024)
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) i32.const 1)
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $add (i32.const 0) (i32.const 16) (i32.const 11) (i32.const 32) (i32.const 3)))
    i32.const 0))
"#;

#[test]
fn higress_stop_iteration_holds_headers_while_the_body_reaches_the_plugin() {
    let upstream = echo();
    let dir = tempdir("stopiteration");
    write(
        &dir,
        "hold.wasm",
        wat::parse_str(HEADERS_WAIT_FOR_BODY).unwrap(),
    );
    let gateway = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .route("r", "echo", &[])
        .plugin("hold", "hold.wasm", &[])
        .plugin("minimal", example(Lang::Rust, "minimal"), &[])
        .start(&dir);
    let response = post(
        &gateway,
        "a.com",
        &[],
        Body::Chunked(&[b"part-1/", b"part-2"]),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let echoed = response.echoed();
    assert_eq!(echoed["body"], "part-1/part-2");
    assert_eq!(
        echoed["headers"]["x-body-seen"], "yes",
        "the header added in the body phase went upstream"
    );
    assert_eq!(
        echoed["headers"]["x-minimal"], "1",
        "the next plugin saw the headers after the release"
    );
}

/// A plugin that sets up Redis at start and refuses to start when the host refuses.
const REDIS_AT_START: &str = r#"
(module
  (import "env" "proxy_redis_init" (func $init (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "outbound|6379||redis.static?db=0")
  (func (export "proxy_abi_version_0_2_100"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024)
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (i32.eqz (call $init (i32.const 16) (i32.const 32) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000)))))
"#;

#[test]
fn a_plugin_may_set_up_redis_at_start() {
    let upstream = echo();
    let dir = tempdir("redisinit");
    write(&dir, "init.wasm", wat::parse_str(REDIS_AT_START).unwrap());
    let without = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .route("r", "echo", &[])
        .plugin("init", "init.wasm", &[]);
    let with_redis = without.clone().cluster("redis", "127.0.0.1:6379", &[]);
    let with_redis = write(&dir, "with.yaml", with_redis.text());
    let gateway = Running::start_file(&with_redis);
    assert_eq!(gateway.get("/", &[]).status, 200);
    drop(gateway);
    let without = write(&dir, "without.yaml", without.text());
    let err = Running::try_start_file(&without)
        .err()
        .expect("no redis cluster: the plugin refuses to start");
    assert!(
        err.contains("plugin init rejected its configuration"),
        "{err}"
    );
}

/// A plugin that rewrites `:path` sends the request to the route the new path matches (Envoy
/// clears its route cache on a header change), unless it turned that off (Higress's
/// `clear_route_cache: off`).
#[test]
fn a_rewritten_path_picks_its_route_again() {
    let default = echo();
    let other = common::fixed_upstream(200, &[("x-from", "other")], "from the other route");
    let dir = tempdir("reroute");
    let probe = example(Lang::Rust, "abi-probe");
    let gateway = Config::new()
        .cluster("echo", default.local_addr(), &[])
        .cluster("other", other, &[])
        .route("to-other", "other", &["path_prefix: /other"])
        .route("to-b", "echo", &["path_prefix: /b"])
        .route("default", "echo", &[])
        .plugin("probe", &probe, &[])
        .plugin("probe-2", &probe, &[])
        .start(&dir);
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
