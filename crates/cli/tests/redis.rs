//! The `cluster-key-rate-limit` example against a real `redis-server` through the gateway:
//! past the threshold it answers 429; with Redis gone the gateway keeps answering, as the
//! plugin decides (it lets requests through when Redis fails).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{echo, free_port, tempdir, Config};
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
    let gateway = Config::new()
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
        )
        .start(&dir);
    let statuses: Vec<u16> = (0..5).map(|_| gateway.get("/", &[]).status).collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 429, 429],
        "{}",
        gateway.stderr.lock().unwrap()
    );
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
