//! Plugins that call Redis through Higress's ABI extension (`proxy_redis_init`,
//! `proxy_dispatch_redis_call`, …) cannot run in upstream Envoy, which does not provide those
//! host functions: it refuses to load them. This keeps that known difference true; what the
//! plugins do is tested in wasmgate against a real redis-server (`crates/cli/tests`,
//! `crates/sdk/tests/sdk/redis.rs`).

use std::net::{SocketAddr, TcpListener};

use wasmgate_conformance::envoy::Envoy;
use wasmgate_conformance::gateway_config;
use wasmgate_conformance::{Lang, Plugin};

#[test]
fn upstream_envoy_refuses_plugins_that_import_redis_calls() {
    let upstream = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let address: SocketAddr = upstream.local_addr().expect("its address");
    let plugins = [
        Plugin::example(Lang::Go, "redis-counter", "{}"),
        Plugin::example(
            Lang::Rust,
            "cluster-key-rate-limit",
            r#"{"serviceName": "redis.static", "servicePort": 6379}"#,
        ),
        Plugin::fixture("sdk-probe", r#"{"name": "conf"}"#),
    ];
    for plugin in plugins {
        let case = format!("redis plugin {}", plugin.name);
        match Envoy::start(
            &case,
            &gateway_config(std::slice::from_ref(&plugin), address, &[]),
        ) {
            Ok(_) => panic!("{case}: Envoy loaded it; compare it with wasmgate instead"),
            Err(log) => assert!(
                log.contains("missing import: env.proxy_redis_init"),
                "{case}: Envoy failed for another reason:\n{log}"
            ),
        }
    }
}
