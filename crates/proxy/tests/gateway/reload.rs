//! A reload changes routes, clusters and plugins while requests keep flowing, none lost; a
//! configuration that does not compile changes nothing; the sockets and threads made at the
//! start stay, and the reload says which asked-for changes of those take a restart.

use crate::common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{config_file, echo, request, tempdir, write, Config, Running};
use wasmgate_proxy::EchoServer;
use wasmgate_proxy::Gateway;
use wasmgate_testkit::examples::{example, Lang};

#[test]
fn a_reload_says_which_settings_take_a_restart() {
    let echo = EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("echo starts");
    let config = || common::one_upstream(&echo.local_addr().to_string(), 1);
    let gateway = Gateway::start(config()).expect("the gateway starts");
    assert_eq!(
        gateway.reload(config()).expect("reloads"),
        Vec::<String>::new()
    );

    let mut moved = config();
    moved.listen_on(SocketAddr::from(([127, 0, 0, 1], 1)));
    moved.workers = 3;
    let kept = gateway.reload(moved).expect("reloads the rest");
    assert_eq!(
        kept,
        vec![
            format!(
                "listen: 127.0.0.1:1 takes a restart; still listening on {}",
                gateway.local_addr()
            ),
            "workers: 3 takes a restart; still 1 workers".to_string(),
        ]
    );
    let answer = common::get(gateway.local_addr(), "/", &[]);
    assert_eq!(answer.status, 200, "{answer:?}");
    gateway.shutdown();
}

#[test]
fn a_reload_under_traffic_loses_no_request() {
    let upstream = echo();
    let dir = tempdir("reload");
    let hello = example(Lang::Go, "hello");
    let routed = Config::routed_to(upstream.local_addr());
    let config = |mock: bool| {
        let config = format!("config: {{ mockEnable: {mock} }}");
        config_file(
            &dir,
            &routed.clone().plugin("hello", &hello, &[&config]).text(),
        )
    };
    let gateway = Running::start(config(false));
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
    let mocks = |address| request(address, "GET", "/", &[], b"").text() == "hello world";
    for mock in [true, false] {
        gateway.gateway().reload(config(mock)).expect("reloads");
        let deadline = Instant::now() + Duration::from_secs(20);
        while mocks(address) != mock {
            assert!(
                Instant::now() < deadline,
                "the reload to {mock} did not take"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
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

    // A plugin that does not compile is refused and the gateway keeps the old configuration.
    let mut broken = config(true);
    broken.plugins[0].wasm = write(&dir, "broken.wasm", "not wasm");
    assert!(gateway.gateway().reload(broken).is_err());
    assert_eq!(request(address, "GET", "/", &[], b"").status, 200);
    assert!(!mocks(address), "the old configuration still serves");
}
