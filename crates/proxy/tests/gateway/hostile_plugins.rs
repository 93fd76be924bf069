//! Plugins that misbehave (the `faults` fixture, `tests/plugins/faults`): each fault fails
//! only its own request, with the status Envoy gives (503), is logged once with the
//! plugin's name, and a rebuilt VM serves the next request; a plugin whose rebuilds fail or
//! that keeps crashing is rebuilt with a backoff while its requests fail fast (or pass, when
//! it fails open); what a guest makes is bounded; a pause never resumed ends at the route's
//! time limit.

use std::time::{Duration, Instant};

use crate::common::log::captured;
use crate::common::{echo, start, tempdir, Client, Config};
use wasmgate_testkit::examples::fixture;

/// The lines the gateway logged that name `plugin` and contain `text`.
pub(crate) fn logged(plugin: &str, text: &str) -> usize {
    let log = captured().lock().unwrap_or_else(|p| p.into_inner());
    log.lines()
        .filter(|l| l.contains(plugin) && l.contains(text))
        .count()
}

fn faults_gateway(
    name: &str,
    more: &[&str],
) -> (crate::common::Running, wasmgate_proxy::EchoServer) {
    // Long enough for `oom` to fill its 64 MiB on a loaded machine before the limit.
    faults_gateway_with(name, more, 1000)
}

/// The faults gateway with a call time limit of `call_ms`.
pub(crate) fn faults_gateway_with(
    name: &str,
    more: &[&str],
    call_ms: u64,
) -> (crate::common::Running, wasmgate_proxy::EchoServer) {
    captured();
    let upstream = echo();
    let dir = tempdir(name);
    let config = Config::new()
        .setting("workers: 1")
        .setting(&format!("plugin_call_timeout_ms: {call_ms}"))
        .setting("plugin_memory_limit_mb: 64")
        .cluster("echo", upstream.local_addr(), &[])
        .route("r", "echo", &["timeout_ms: 1500"])
        .plugin(name, fixture("faults"), more);
    (start(&config, &dir), upstream)
}

/// How many headers the header bomb added before the host refused one with BadArgument (2).
fn added_by_the_bomb() -> usize {
    let line = {
        let log = captured().lock().unwrap_or_else(|p| p.into_inner());
        log.lines()
            .find(|l| l.contains("faults-limits") && l.contains("header bomb stopped after"))
            .map(str::to_string)
    }
    .expect("the bomb's log line");
    assert!(line.contains("with status 2"), "{line}");
    let after = line.split("stopped after ").nth(1).unwrap_or_default();
    after
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn each_fault_fails_only_its_request_is_logged_once_and_the_next_request_is_served() {
    let (gateway, _upstream) = faults_gateway("faults-each", &[]);
    for (fault, reason) in [
        ("trap", "fault requested"),
        ("loop", "ran longer than the 1000 ms time limit"),
        ("recurse", "out of bounds memory access"),
        ("oom", "exceeded the VM memory limit"),
    ] {
        let before = logged("faults-each", "crashed in proxy_on_request_headers");
        let response = gateway.get("/f", &[("x-fault", fault)]);
        assert_eq!(response.status, 503, "{fault}: {}", response.text());
        let after = logged("faults-each", "crashed in proxy_on_request_headers");
        assert_eq!(after, before + 1, "{fault} is logged once");
        assert!(
            logged("faults-each", reason) >= 1,
            "{fault}: the log says {reason:?}"
        );
        let next = gateway.get("/f", &[("x-fault", "none")]);
        assert_eq!(next.status, 200, "after {fault}: {}", next.text());
    }
}

#[test]
fn what_a_guest_asks_past_its_limits_is_refused_not_a_host_panic() {
    // Appending 64 MiB a call at a time takes over a second of a loaded debug build: the
    // limit is not what this test is about.
    let (gateway, _upstream) = faults_gateway_with("faults-limits", &[], 10_000);
    // memory.grow past the VM's limit returns -1 to the guest, which goes on.
    let grown = gateway.get("/f", &[("x-fault", "grow")]);
    assert_eq!(grown.status, 200, "{}", grown.text());
    assert_eq!(grown.upstream_header("x-grow").as_deref(), Some("-1"));
    // Adding headers without end: the host refuses the one past its limit (BadArgument).
    let bombed = gateway.get("/f", &[("x-fault", "header-bomb")]);
    assert_ne!(bombed.status, 500, "no host panic: {}", bombed.text());
    let added = added_by_the_bomb();
    assert!(
        (8170..8192).contains(&added),
        "8,192 with the request's own: {added}"
    );
    assert_eq!(logged("faults-limits", "refused (BadArgument)"), 1);
    // Appending to a body without end: the host refuses what passes 64 MiB (BadArgument).
    let body_bombed = gateway.get("/f", &[("x-fault", "body-bomb")]);
    assert_eq!(body_bombed.status, 200, "{}", body_bombed.text());
    assert_eq!(
        body_bombed.upstream_header("x-body-bomb").as_deref(),
        Some("64 2")
    );
    assert_eq!(
        logged("faults-limits", "a plugin may make a body of at most"),
        1
    );
    // No file, directory or environment variable reaches a plugin.
    let wasi = gateway.get("/f", &[("x-fault", "wasi")]);
    assert_eq!(
        wasi.upstream_header("x-wasi-file").as_deref(),
        Some("denied")
    );
    assert_eq!(
        wasi.upstream_header("x-wasi-env").as_deref(),
        Some("denied")
    );
    assert_eq!(
        wasi.upstream_header("x-wasi-dir").as_deref(),
        Some("denied")
    );
    // Two local replies: the first wins (Envoy); resuming what is not paused is harmless.
    let twice = gateway.get("/f", &[("x-fault", "reply-twice")]);
    assert_eq!((twice.status, twice.text().as_str()), (403, "first"));
    let resumed = gateway.get("/f", &[("x-fault", "resume-unpaused")]);
    assert_eq!(resumed.status, 200);
    // A 1 MiB stderr line becomes a log line of 4 KiB and a note of what was cut.
    assert_eq!(
        gateway.get("/f", &[("x-fault", "stderr-flood")]).status,
        200
    );
    let flood = {
        let log = captured().lock().unwrap_or_else(|p| p.into_inner());
        log.lines()
            .find(|l| l.contains("faults-limits") && l.contains("flood xxx"))
            .map(str::len)
    }
    .expect("the flood's log line");
    assert!(flood < 4096 + 300, "cut to 4 KiB: {flood} bytes");
    assert_eq!(logged("faults-limits", "more bytes cut"), 1);
    // A pause never resumed ends at the route's 1.5 s limit with 504, not the 30 s one.
    let started = Instant::now();
    let paused = gateway.get("/f", &[("x-fault", "pause-forever")]);
    assert_eq!(paused.status, 504, "{}", paused.text());
    assert!(
        started.elapsed() < Duration::from_secs(29),
        "the route's limit, not 30 s"
    );
    assert_eq!(gateway.get("/f", &[]).status, 200);
}

#[test]
fn a_plugin_whose_rebuild_fails_fails_fast_with_a_backoff_and_recovers() {
    let (gateway, _upstream) = faults_gateway("faults-refuse", &[]);
    // The crash leaves two refusals: the rebuild at once and the one after 1 s fail, the one
    // after 2 more seconds succeeds.
    let crashed = gateway.get("/f", &[("x-fault", "trap-refuse-2")]);
    assert_eq!(crashed.status, 503);
    let mut statuses = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let status = gateway.get("/f", &[]).status;
        statuses.push(status);
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(statuses.last(), Some(&200), "it recovers: {statuses:?}");
    assert!(
        statuses.len() > 5,
        "requests failed fast meanwhile: {statuses:?}"
    );
    assert!(
        statuses[..statuses.len() - 1].iter().all(|s| *s == 503),
        "{statuses:?}"
    );
    // Two failed rebuilds, each logged once, not one per request.
    assert_eq!(logged("faults-refuse", "cannot rebuild the plugin VM"), 2);
    assert_eq!(
        logged("faults-refuse", "plugin VM rebuilt after a crash"),
        1
    );
}

#[test]
fn a_crash_loop_in_on_tick_backs_off_and_requests_pass_when_it_fails_open() {
    let (gateway, _upstream) = faults_gateway(
        "faults-tick",
        &["config: {fault: tick-panic}", "fail_policy: open"],
    );
    let started = Instant::now();
    let mut statuses = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        statuses.push(gateway.get("/f", &[]).status);
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // On every tick (20 ms) for 3 s that is ~150 crashes without a backoff; with it the VM
    // is rebuilt at once, then after 1 s and 2 s.
    let rebuilds = logged("faults-tick", "plugin VM rebuilt after a crash");
    assert!((1..=4).contains(&rebuilds), "{rebuilds} rebuilds");
}

#[test]
fn a_crash_in_on_configure_is_refused_at_start() {
    let upstream = echo();
    let dir = tempdir("faults-configure");
    for fault in ["configure-panic", "configure-loop"] {
        let config = Config::new()
            .setting("plugin_call_timeout_ms: 300")
            .cluster("echo", upstream.local_addr(), &[])
            .route("r", "echo", &[])
            .plugin(
                "faults-configure",
                fixture("faults"),
                &[&format!("config: {{fault: {fault}}}")],
            );
        let file = crate::common::write(&dir, "wasmgate.yaml", config.text());
        let loaded = wasmgate_proxy::load_config(&file).expect("the file is valid");
        let error = match wasmgate_proxy::Gateway::start(loaded) {
            Ok(_) => panic!("{fault}: the gateway started"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains("faults-configure"), "{fault}: {error}");
        assert!(!error.contains('\n'), "one line: {error}");
        if fault == "configure-loop" {
            // The start has a limit of its own (10 s), not the call limit of requests.
            assert!(
                error.contains("ran longer than the 10000 ms time limit"),
                "{error}"
            );
        }
    }
}

#[test]
fn a_plugin_that_fails_closed_stays_down_until_the_configuration_is_reloaded() {
    let (gateway, _upstream) = faults_gateway("faults-closed", &["fail_policy: closed"]);
    assert_eq!(gateway.get("/f", &[("x-fault", "trap")]).status, 503);
    for _ in 0..3 {
        assert_eq!(gateway.get("/f", &[]).status, 503, "down, not rebuilt");
    }
    assert_eq!(logged("faults-closed", "plugin VM rebuilt"), 0);
    assert_eq!(logged("faults-closed", "fail_policy closed"), 1);
    let dir = tempdir("faults-closed-reload");
    let again = Config::new()
        .setting("workers: 1")
        .cluster("echo", _upstream.local_addr(), &[])
        .route("r", "echo", &[])
        .plugin("faults-closed", fixture("faults"), &["fail_policy: closed"]);
    let file = crate::common::write(&dir, "wasmgate.yaml", again.text());
    let reloaded = wasmgate_proxy::load_config(&file).expect("valid");
    gateway.gateway().reload(reloaded).expect("reloads");
    assert_eq!(
        gateway.get("/f", &[]).status,
        200,
        "a reload brings it back"
    );
}

/// An upstream that answers each request 800 ms after it arrived (`200`, body `slow`).
fn slow_upstream() -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let address = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                std::thread::sleep(Duration::from_millis(800));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nslow",
                );
            });
        }
    });
    address
}

/// A gateway (one worker, access log on) with the faults plugin `name` in front of the slow
/// upstream (`/slow…`) and the echo upstream (the rest).
fn slow_gateway(name: &str) -> (crate::common::Running, wasmgate_proxy::EchoServer) {
    captured();
    let upstream = echo();
    let config = Config::new()
        .setting("workers: 1")
        .setting("plugin_call_timeout_ms: 1000")
        .setting("access_log: text")
        .cluster("slow", slow_upstream(), &[])
        .cluster("echo", upstream.local_addr(), &[])
        .route("slow", "slow", &["path_prefix: /slow", "timeout_ms: 5000"])
        .route("r", "echo", &[])
        .plugin(name, fixture("faults"), &[]);
    (start(&config, &tempdir(name)), upstream)
}

#[test]
fn a_request_in_flight_when_another_crashes_the_vm_gets_its_response() {
    let (gateway, _upstream) = slow_gateway("faults-inflight");
    let address = gateway.address;
    let in_flight = std::thread::spawn(move || crate::common::get(address, "/slow", &[]));
    // The slow request is upstream when the trap crashes the VM it passed through.
    std::thread::sleep(Duration::from_millis(300));
    let crashed = gateway.get("/f", &[("x-fault", "trap")]);
    assert_eq!(crashed.status, 503, "{}", crashed.text());
    let answer = in_flight.join().expect("the slow request");
    // Its response phases meet the rebuilt VM, which never saw the stream: the response
    // passes (fail policy reload), as the plugin no longer holds anything of it.
    assert_eq!((answer.status, answer.text().as_str()), (200, "slow"));
    assert_eq!(
        logged("faults-inflight", "crashed in proxy_on_request_headers"),
        1
    );
    assert_eq!(gateway.get("/f", &[]).status, 200);
}

#[test]
fn a_request_whose_client_left_still_ends_its_walk_and_gets_its_log_line() {
    use std::io::Write;
    let (gateway, _upstream) = slow_gateway("faults-left");
    {
        let mut client = std::net::TcpStream::connect(gateway.address).expect("connects");
        client
            .write_all(b"GET /slow-left HTTP/1.1\r\nhost: test.local\r\n\r\n")
            .expect("sent");
        std::thread::sleep(Duration::from_millis(200));
        // The client leaves while the request waits for the upstream.
    }
    let logged_line = || {
        let log = captured().lock().unwrap_or_else(|p| p.into_inner());
        log.lines()
            .any(|l| l.contains("GET /slow-left HTTP/1.1 200") && l.contains("route=slow"))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !logged_line() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        logged_line(),
        "the walk went on to the upstream's answer and its log line"
    );
    assert_eq!(gateway.get("/f", &[]).status, 200);
}
