//! A plugin that computes for long (the `faults` fixture's `loop`, under a call time limit)
//! does not hold up the other requests of its worker: its call yields to the worker at each
//! epoch tick, and a request that needs the plugin meanwhile gets a spare VM of it; so does
//! a request next to an `on_tick` that computes (`tick-wait`).

use std::time::Duration;

use crate::common::Client;
use crate::hostile_plugins::{faults_gateway_with, logged};

/// Waits until the gateway logged `text` for `plugin` at least `count` times.
fn wait_for_log(plugin: &str, text: &str, count: usize) {
    for _ in 0..600 {
        if logged(plugin, text) >= count {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{plugin} never logged {text:?} {count} times");
}

#[test]
fn requests_are_served_while_a_plugin_loops_on_their_worker() {
    let (gateway, _upstream) = faults_gateway_with("faults-compute", &[], 4_000);
    std::thread::scope(|scope| {
        let looping = scope.spawn(|| gateway.get("/f", &[("x-fault", "loop")]));
        wait_for_log("faults-compute", "faults plugin saw loop", 1);
        // Normal requests through the same plugin, on the same (only) worker, are answered
        // while the loop still runs.
        for _ in 0..3 {
            let normal = gateway.get("/f", &[("x-fault", "none")]);
            assert_eq!(normal.status, 200, "{}", normal.text());
            assert!(
                !looping.is_finished(),
                "served while the loop still ran, not after it"
            );
        }
        let looped = looping.join().expect("the looping request's thread");
        assert_eq!(looped.status, 503, "{}", looped.text());
    });
    assert!(logged("faults-compute", "ran longer than the 4000 ms time limit") >= 1);
    assert_eq!(
        logged(
            "faults-compute",
            "is in a long call: built VM 2 of at most 4"
        ),
        1,
        "one spare VM, built once"
    );
    // After the crashed VM's rebuild, requests go on being served.
    assert_eq!(gateway.get("/f", &[]).status, 200);
}

#[test]
fn requests_are_served_while_a_tick_computes() {
    let name = "faults-tick-wait";
    let (gateway, _upstream) = faults_gateway_with(name, &["config: {fault: tick-wait}"], 10_000);
    wait_for_log(name, "faults tick waits for a release", 1);
    // The tick computes in the plugin's first VM until another VM of the plugin sets the
    // shared data it waits for: this request does, through the same plugin on the same
    // (only) worker.
    let releasing = gateway.get("/f", &[("x-fault", "release")]);
    assert_eq!(releasing.status, 200, "{}", releasing.text());
    wait_for_log(name, "faults tick released", 1);
    assert_eq!(
        logged(name, "ran longer than"),
        0,
        "the tick ended by itself, not at its time limit"
    );
    assert_eq!(gateway.get("/f", &[]).status, 200);
}
