//! A bounded soak: for `WASMGATE_SOAK_SECONDS` (20 by default; `docs/reliability.md` has a
//! longer run), clients on several connections mix plain requests, requests that crash a
//! plugin, requests to a dead upstream and requests a plugin answers itself, while the
//! configuration is reloaded every second. Every request that should succeed does; each
//! other one gets its own status (503 for a crash and for the dead upstream, 403 for the
//! plugin's answer); the process's open descriptors and resident memory stay within a bound
//! of where they were after the warm-up. It prints its numbers (`--nocapture`).

#[path = "gateway/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{config_file, echo, request, tempdir, Config};
use wasmgate_proxy::Gateway;
use wasmgate_testkit::examples::{example, fixture, Lang};

/// What one kind of request sends and which status it must get.
#[derive(Clone, Copy)]
struct Kind {
    name: &'static str,
    path: &'static str,
    fault: &'static str,
    expected: u16,
}

const KINDS: [Kind; 4] = [
    Kind {
        name: "plain",
        path: "/ok",
        fault: "none",
        expected: 200,
    },
    Kind {
        name: "plugin crash",
        path: "/ok",
        fault: "trap",
        expected: 503,
    },
    Kind {
        name: "dead upstream",
        path: "/dead",
        fault: "none",
        expected: 503,
    },
    Kind {
        name: "plugin answer",
        path: "/deny",
        fault: "reply-twice",
        expected: 403,
    },
];

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn traffic_reloads_crashes_and_dead_upstreams_lose_nothing_and_leak_nothing() {
    let seconds: u64 = std::env::var("WASMGATE_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let upstream = echo();
    let dir = tempdir("soak");
    let text = Config::new()
        .setting("workers: 2")
        .cluster("echo", upstream.local_addr(), &[])
        .cluster("dead", common::dead_address(), &[])
        .route("dead", "dead", &["path_prefix: /dead"])
        .route("ok", "echo", &[])
        .plugin("minimal", example(Lang::Rust, "minimal"), &[])
        .plugin("faults", fixture("faults"), &[])
        .text();
    let gateway = Arc::new(Gateway::start(config_file(&dir, &text)).expect("the gateway starts"));
    let address = gateway.local_addr();
    let send = |kind: &Kind| request(address, "GET", kind.path, &[("x-fault", kind.fault)], b"");
    // Warm-up: every kind once, so the baseline holds the VMs and pools.
    for kind in &KINDS {
        assert_eq!(send(kind).status, kind.expected, "{}", kind.name);
    }
    let fds_before = open_descriptors();
    let rss_before = resident_kib();

    let stop = Arc::new(AtomicBool::new(false));
    let tally: Arc<Mutex<BTreeMap<(&str, u16), u64>>> = Arc::default();
    let reloader = {
        let (gateway, stop, dir, text) = (gateway.clone(), stop.clone(), dir.clone(), text.clone());
        std::thread::spawn(move || {
            let mut reloads = 0u32;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                gateway
                    .reload(config_file(&dir, &text))
                    .expect("the same configuration reloads");
                reloads += 1;
            }
            reloads
        })
    };
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (stop, tally) = (stop.clone(), tally.clone());
            std::thread::spawn(move || {
                let mut n = client;
                while !stop.load(Ordering::Relaxed) {
                    // Mostly plain requests; one in 8 of each other kind.
                    let kind = match n % 8 {
                        1 => &KINDS[1],
                        3 => &KINDS[2],
                        5 => &KINDS[3],
                        _ => &KINDS[0],
                    };
                    let status =
                        request(address, "GET", kind.path, &[("x-fault", kind.fault)], b"").status;
                    *tally
                        .lock()
                        .unwrap()
                        .entry((kind.name, status))
                        .or_default() += 1;
                    n += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("a client thread");
    }
    let reloads = reloader.join().expect("the reloader");
    let elapsed = started.elapsed().as_secs_f64();

    let tally = tally.lock().unwrap().clone();
    let total: u64 = tally.values().sum();
    println!("soak: {total} requests in {elapsed:.1} s, {reloads} reloads");
    for ((kind, status), count) in &tally {
        println!("  {kind}: {status} × {count}");
    }
    let wrong: Vec<_> = tally
        .iter()
        .filter(|((kind, status), _)| {
            KINDS
                .iter()
                .any(|k| k.name == *kind && k.expected != *status)
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "requests with the wrong status: {wrong:?}"
    );
    assert!(total > 100, "the soak ran: {total} requests");
    assert!(reloads + 1 >= seconds as u32 / 2, "it reloaded: {reloads}");

    // Let the last connections close, then compare with the baseline.
    std::thread::sleep(Duration::from_millis(500));
    let fds_after = open_descriptors();
    let rss_after = resident_kib();
    println!("  descriptors: {fds_before} → {fds_after}; resident: {rss_before} → {rss_after} KiB");
    assert!(
        fds_after <= fds_before + 16,
        "descriptors grew: {fds_before} → {fds_after}"
    );
    assert!(
        rss_after <= rss_before + 256 * 1024,
        "resident memory grew past 256 MiB: {rss_before} → {rss_after} KiB"
    );
}
