//! A shared queue across workers: every item enqueued on any worker reaches the one VM that
//! registered the queue last (as in Envoy), with no further request to wake that VM.

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use wasmgate_proxy::EchoServer;
use wasmgate_proxy::Gateway;
use wasmgate_proxy::PluginSpec;
use wasmgate_testkit::examples::fixture;

/// A GET with `x-probe: case`; the whole answer.
fn probe(gateway: SocketAddr, case: &str) -> common::Response {
    common::get(gateway, "/", &[("x-probe", case)])
}

#[test]
fn items_enqueued_on_any_worker_reach_the_queue_owner() {
    let echo = EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("echo starts");
    let mut config = common::one_upstream(&echo.local_addr().to_string(), 2);
    config.plugins.push(PluginSpec::new(
        "probe",
        fixture("abi-probe"),
        b"queue-owner".to_vec(),
    ));
    let gateway = Gateway::start(config).expect("the gateway starts");
    // Only the owner's VM takes items; an enqueue on another worker must wake it (no
    // request of its own follows, and a queue owner does not tick).
    let taken = || {
        gateway
            .shared()
            .metric("probe_work_items")
            .map_or(0, |m| m.value)
    };
    const ITEMS: i64 = 40;
    for sent in 1..=ITEMS {
        let answer = probe(gateway.local_addr(), "enqueue");
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(answer.text().contains(r#""x-enqueued":"ok""#), "{answer:?}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while taken() < sent {
            assert!(
                Instant::now() < deadline,
                "the owner took {} of {sent} items",
                taken()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let items = vec!["probe"; ITEMS as usize].join(",");
    let seen = probe(gateway.local_addr(), "work-seen");
    assert!(
        seen.text().contains(&format!(" items={items}\"")),
        "{seen:?}"
    );
    gateway.shutdown();
}
