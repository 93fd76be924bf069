//! A gateway that started a large plugin on baseline code (the quick start, empty cache)
//! moves to optimized code once the background compile has cached it, and keeps serving.

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use wasmgate_host::Tier;
use wasmgate_proxy::EchoServer;
use wasmgate_proxy::Gateway;
use wasmgate_proxy::PluginSpec;
use wasmgate_testkit::examples::{example, Lang};

#[test]
fn a_plugin_started_on_baseline_code_moves_to_optimized_code() {
    let cache = std::env::temp_dir().join(format!("wasmgate-tier-up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let echo = EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("echo starts");
    let mut config = common::one_upstream(&echo.local_addr().to_string(), 1);
    config.runtime.cache_dir = Some(cache.clone());
    config.runtime.quick_start = true;
    // The Go hello plugin (about 6 MB) is past the quick-start size.
    config.plugins.push(PluginSpec::new(
        "hello",
        example(Lang::Go, "hello"),
        br#"{"mockEnable": false}"#.to_vec(),
    ));
    let gateway = Gateway::start(config).expect("the gateway starts");
    assert_eq!(
        gateway.plugin_tiers(),
        vec![("hello".to_string(), Tier::Baseline)]
    );
    let served = |answer: common::Response| {
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(answer.text().contains(r#""hello":"world""#), "{answer:?}");
    };
    served(common::get(gateway.local_addr(), "/tier", &[]));

    let deadline = Instant::now() + Duration::from_secs(600);
    while gateway.plugin_tiers() != vec![("hello".to_string(), Tier::Optimized)] {
        assert!(
            Instant::now() < deadline,
            "still on baseline code after 600 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    served(common::get(gateway.local_addr(), "/tier", &[]));
    gateway.shutdown();
    let _ = std::fs::remove_dir_all(&cache);
}
