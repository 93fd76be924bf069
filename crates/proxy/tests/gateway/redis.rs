//! Plugins and a real `redis-server` through the gateway: the `cluster-key-rate-limit`
//! example answers 429 past its threshold and, with Redis gone, lets requests through (as
//! the plugin decides); a plugin may set up Redis when it starts, and refuses to start when
//! the gateway has no Redis cluster for it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{config_file, echo, free_port, start, tempdir, write, Client, Config};
use wasmgate_proxy::Gateway;
use wasmgate_testkit::examples::{example, Lang};

/// A `redis-server` on a free loopback port, stopped when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Redis { child, port }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn cluster_key_rate_limit_counts_in_redis_and_fails_open_without_it() {
    let mut redis = Redis::start();
    let upstream = echo();
    let dir = tempdir("redis");
    let port = redis.port;
    let config = Config::new()
        .cluster("echo", upstream.local_addr(), &[])
        .cluster(
            &format!("outbound|{port}||redis.static"),
            format!("127.0.0.1:{port}"),
            &[],
        )
        .route("default", "echo", &[])
        .plugin(
            "cluster-key-rate-limit",
            example(Lang::Rust, "cluster-key-rate-limit"),
            &[
                "config:",
                "  rule_name: per-minute",
                "  global_threshold: { query_per_minute: 3 }",
                "  show_limit_quota_header: true",
                &format!("  redis: {{ service_name: redis.static, service_port: {port}, timeout: 1000 }}"),
            ],
        );
    let gateway = start(&config, &dir);
    let statuses: Vec<u16> = (0..5).map(|_| gateway.get("/", &[]).status).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let limited = gateway.get("/", &[]);
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert!(limited.header("x-ratelimit-reset").is_some());

    redis.stop();
    let response = gateway.get("/", &[]);
    assert_eq!(
        response.status,
        200,
        "without Redis the plugin lets requests through: {}",
        response.text()
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
    let gateway = start(&with_redis, &dir);
    assert_eq!(gateway.get("/", &[]).status, 200);
    drop(gateway);
    let err = Gateway::start(config_file(&dir, &without.text()))
        .err()
        .expect("no redis cluster: the plugin refuses to start")
        .to_string();
    assert!(
        err.contains("plugin init rejected its configuration"),
        "{err}"
    );
}
