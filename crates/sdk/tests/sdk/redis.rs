//! wasmgate-sdk's Redis client (init string, RESP, callbacks, async, NOAUTH retry, clear
//! errors) and the `cluster-key-rate-limit` example that follows Higress's plugin.

use wasmgate_testkit::examples::{example, fixture, Lang};
use wasmgate_testkit::{LogLevel, StreamState, TestHost};

const REDIS: &str = "outbound|6379||redis.static";

fn rate_limit(config: &str) -> TestHost {
    TestHost::builder(example(Lang::Rust, "cluster-key-rate-limit"))
        .plugin_name("cluster-key-rate-limit")
        .config_json(config)
        .start()
        .expect("cluster-key-rate-limit starts")
}

const GLOBAL: &str = r#"{
    "rule_name": "routeA-global-limit-rule",
    "global_threshold": {"query_per_minute": 1000},
    "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 1000,
              "username": "admin", "password": "secret", "database": 1},
    "show_limit_quota_header": true
}"#;

/// RESP array of integers or strings, as Higress's `CreateRedisRespArray`.
fn resp_array(items: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        if item.parse::<i64>().is_ok() {
            out.extend_from_slice(format!(":{item}\r\n").as_bytes());
        } else {
            out.extend_from_slice(format!("${}\r\n{item}\r\n", item.len()).as_bytes());
        }
    }
    out
}

/// The arguments of a RESP command (bulk strings only).
fn args(query: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(query);
    let mut lines = text.split("\r\n");
    let count: usize = lines.next().unwrap()[1..].parse().unwrap();
    (0..count)
        .map(|_| {
            lines.next().unwrap();
            lines.next().unwrap().to_string()
        })
        .collect()
}

#[test]
fn init_sends_the_higress_upstream_string() {
    let host = rate_limit(GLOBAL);
    let inits = host.redis_inits();
    assert_eq!(inits.len(), 1);
    assert_eq!(
        inits[0].upstream,
        format!("{REDIS}?db=1&buffer_flush_timeout=3&max_buffer_size_before_flush=1024")
    );
    assert_eq!(inits[0].username, "admin");
    assert_eq!(inits[0].password, "secret");
    assert_eq!(inits[0].timeout_ms, 1000);
}

#[test]
fn past_the_limit_is_a_429_with_rate_limit_headers() {
    let mut host = rate_limit(GLOBAL);
    let state = host
        .request_headers(&[(":path", "/api/test")], true)
        .unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    assert_eq!(
        host.property("clear_route_cache").as_deref(),
        Some(&b"off"[..])
    );
    let calls = host.redis_callouts();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].upstream, REDIS);
    let a = args(&calls[0].query);
    assert_eq!(a[0], "EVAL");
    assert!(a[1].contains("redis.call('incr', KEYS[1])"), "{}", a[1]);
    assert_eq!(
        &a[2..],
        [
            "1",
            "higress-cluster-key-rate-limit:routeA-global-limit-rule:global_threshold:60:1000",
            "1000",
            "60"
        ]
    );
    let state = host
        .answer_redis(calls[0].token, 0, &resp_array(&["1000", "1001", "60"]))
        .unwrap();
    let StreamState::Replied(reply) = state else {
        panic!("expected a 429, got {state:?}");
    };
    assert_eq!(reply.status, 429);
    assert_eq!(reply.body, b"Too many requests");
    assert_eq!(reply.details, "cluster-key-rate-limit.rejected");
    assert_eq!(reply.headers.get_str("X-RateLimit-Reset"), Some("60"));
    assert_eq!(reply.headers.get_str("X-RateLimit-Limit"), Some("1000"));
    assert_eq!(reply.headers.get_str("X-RateLimit-Remaining"), Some("0"));
}

#[test]
fn under_the_limit_resumes_and_shows_the_quota() {
    let mut host = rate_limit(GLOBAL);
    host.request_headers(&[(":path", "/api/test")], true)
        .unwrap();
    let token = host.redis_callouts()[0].token;
    // The script's ARGV[1] comes back as a bulk string: decoded leniently.
    let mut reply = b"*3\r\n$4\r\n1000\r\n".to_vec();
    reply.extend_from_slice(b":999\r\n:42\r\n");
    let state = host.answer_redis(token, 0, &reply).unwrap();
    assert_eq!(state, StreamState::Running, "resumed");
    host.response_headers(&[("x-ratelimit-limit", "upstream")], false)
        .unwrap();
    assert_eq!(
        host.response_header("x-ratelimit-limit").as_deref(),
        Some("1000")
    );
    assert_eq!(
        host.response_header("x-ratelimit-remaining").as_deref(),
        Some("1")
    );
}

#[test]
fn redis_trouble_lets_requests_through() {
    // A reply that is not a 3-array.
    let mut host = rate_limit(GLOBAL);
    host.request_headers(&[], true).unwrap();
    let state = host.answer_redis(host.redis_callouts()[0].token, 0, b":1\r\n");
    assert_eq!(state.unwrap(), StreamState::Running);
    host.complete().unwrap();
    // A failed call (the host could not reach Redis).
    host.request_headers(&[], true).unwrap();
    let state = host.answer_redis(host.redis_callouts()[0].token, 1, b"");
    assert_eq!(state.unwrap(), StreamState::Running);
    host.complete().unwrap();
    // An error reply.
    host.request_headers(&[], true).unwrap();
    let state = host.answer_redis(
        host.redis_callouts()[0].token,
        0,
        b"-ERR max number of clients reached\r\n",
    );
    assert_eq!(state.unwrap(), StreamState::Running);
    let errors = host.log_messages(LogLevel::Error);
    for expect in [
        "redis response parse error",
        "cannot connect to redis cluster outbound|6379||redis.static",
        "redis error reply: ERR max number of clients reached",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(expect)),
            "{expect}: {errors:?}"
        );
    }
}

#[test]
fn an_unknown_cluster_is_logged_and_requests_pass() {
    let mut host = TestHost::builder(example(Lang::Rust, "cluster-key-rate-limit"))
        .config_json(GLOBAL)
        .clusters(&["outbound|6379||other.static"])
        .start()
        .expect("the plugin still starts");
    let state = host.request_headers(&[], true).unwrap();
    assert_eq!(state, StreamState::Running);
    assert!(host.redis_callouts().is_empty());
    let errors = host.log_messages(LogLevel::Error);
    assert!(
        errors.iter().any(|e| e.contains(
            "cannot init redis cluster outbound|6379||redis.static: proxy_redis_init failed: BadArgument"
        )),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("is not ready")),
        "{errors:?}"
    );
}

#[test]
fn noauth_reinitialises_and_retries_once() {
    let mut host = rate_limit(GLOBAL);
    host.request_headers(&[], true).unwrap();
    let first = host.redis_callouts()[0].clone();
    let state = host
        .answer_redis(first.token, 0, b"-NOAUTH Authentication required.\r\n")
        .unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    assert_eq!(host.redis_inits().len(), 2, "re-initialised");
    let retry = host.redis_callouts();
    assert_eq!(retry.len(), 1);
    assert_ne!(retry[0].token, first.token);
    assert_eq!(retry[0].query, first.query);
    let state = host
        .answer_redis(retry[0].token, 0, &resp_array(&["1000", "1001", "60"]))
        .unwrap();
    assert!(matches!(state, StreamState::Replied(_)), "{state:?}");
    host.complete().unwrap();

    // A second NOAUTH is not retried again: the request goes through, logged.
    host.request_headers(&[], true).unwrap();
    let token = host.redis_callouts()[0].token;
    host.answer_redis(token, 0, b"-NOAUTH Authentication required.\r\n")
        .unwrap();
    let token = host.redis_callouts()[0].token;
    let state = host
        .answer_redis(token, 0, b"-NOAUTH Authentication required.\r\n")
        .unwrap();
    assert_eq!(state, StreamState::Running);
    assert!(host.redis_callouts().is_empty());
}

/// Request headers, and the expected (key suffix, count, window) or no limit.
type Case<'a> = (
    &'a [(&'a str, &'a str)],
    Option<(&'a str, &'a str, &'a str)>,
);

#[test]
fn rule_items_pick_the_key_from_the_request() {
    let config = r#"{
        "rule_name": "r",
        "rule_items": [
            {"limit_by_header": "x-ca-key", "limit_keys": [{"key": "102234", "query_per_minute": 10}]},
            {"limit_by_param": "apikey", "limit_keys": [{"key": "k1", "query_per_hour": 100}]},
            {"limit_by_cookie": "key1", "limit_keys": [{"key": "value1", "query_per_day": 5}]},
            {"limit_by_per_param": "user", "limit_keys": [{"key": "regexp:^a.*", "query_per_second": 2},
                                                          {"key": "*", "query_per_second": 1}]},
            {"limit_by_per_ip": "from-header-x-forwarded-for",
             "limit_keys": [{"key": "1.1.1.1", "query_per_day": 10}, {"key": "10.0.0.0/8", "query_per_day": 100}]}
        ],
        "redis": {"service_name": "redis.static"},
        "rejected_code": 503, "rejected_msg": "slow down"
    }"#;
    let cases: [Case; 8] = [
        (
            &[("x-ca-key", "102234")],
            Some(("limit_by_header:60:10:x-ca-key:102234", "10", "60")),
        ),
        (&[("x-ca-key", "other")], None),
        (
            &[(":path", "/p?apikey=k1")],
            Some(("limit_by_param:3600:100:apikey:k1", "100", "3600")),
        ),
        (
            &[("cookie", "a=b; key1=value1")],
            Some(("limit_by_cookie:86400:5:key1:value1", "5", "86400")),
        ),
        (
            &[(":path", "/p?user=alice")],
            Some(("limit_by_per_param:1:2:user:alice", "2", "1")),
        ),
        (
            &[(":path", "/p?user=bob")],
            Some(("limit_by_per_param:1:1:user:bob", "1", "1")),
        ),
        (
            &[("x-forwarded-for", " 10.1.2.3, 1.1.1.1")],
            Some((
                "limit_by_per_ip:86400:100:from-header-x-forwarded-for:10.1.2.3",
                "100",
                "86400",
            )),
        ),
        (&[("x-forwarded-for", "192.168.0.1")], None),
    ];
    for (headers, expect) in cases {
        let mut host = rate_limit(config);
        let state = host.request_headers(headers, true).unwrap();
        let calls = host.redis_callouts();
        match expect {
            None => {
                assert_eq!(state, StreamState::Running, "{headers:?}");
                assert!(calls.is_empty(), "{headers:?}");
            }
            Some((key, count, window)) => {
                assert_eq!(calls.len(), 1, "{headers:?}");
                assert_eq!(
                    calls[0].upstream, "outbound|80||redis.static",
                    "port 80 for .static"
                );
                let a = args(&calls[0].query);
                assert_eq!(a[3], format!("higress-cluster-key-rate-limit:r:{key}"));
                assert_eq!((a[4].as_str(), a[5].as_str()), (count, window));
                let state = host
                    .answer_redis(calls[0].token, 0, &resp_array(&[count, "999", "7"]))
                    .unwrap();
                let StreamState::Replied(reply) = state else {
                    panic!("expected a rejection, got {state:?}");
                };
                assert_eq!(reply.status, 503);
                assert_eq!(reply.body, b"slow down");
                assert_eq!(reply.headers.get_str("X-RateLimit-Reset"), Some("7"));
                assert_eq!(reply.headers.get_str("X-RateLimit-Limit"), None);
            }
        }
    }
}

#[test]
fn config_errors_fail_the_start() {
    for config in [
        r#"{"global_threshold": {"query_per_second": 1}, "redis": {"service_name": "r"}}"#,
        r#"{"rule_name": "r", "redis": {"service_name": "r"}}"#,
        r#"{"rule_name": "r", "global_threshold": {"query_per_second": 1}}"#,
        r#"{"rule_name": "r", "global_threshold": {}, "redis": {"service_name": "r"}}"#,
        r#"{"rule_name": "r", "rule_items": [{"limit_by_per_header": "h", "limit_keys": [{"key": "x", "query_per_second": 1}]}], "redis": {"service_name": "r"}}"#,
        r#"{"rule_name": "r", "rule_items": [{"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "1.2.3.4/40", "query_per_second": 1}]}], "redis": {"service_name": "r"}}"#,
    ] {
        let result = TestHost::builder(example(Lang::Rust, "cluster-key-rate-limit"))
            .config_json(config)
            .start();
        assert!(result.is_err(), "{config}");
    }
}

#[test]
fn async_commands_and_error_replies_through_the_probe() {
    let mut host = TestHost::builder(fixture("sdk-probe"))
        .config_json(r#"{"name": "g", "redis": "cache.static"}"#)
        .start()
        .unwrap();
    let state = host
        .request_headers(&[(":path", "/redis-async")], true)
        .unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    let init = &host.redis_inits()[0];
    assert_eq!(
        init.upstream,
        "outbound|6379||cache.static?db=2&buffer_flush_timeout=3&max_buffer_size_before_flush=1024"
    );
    assert_eq!((init.username.as_str(), init.password.as_str()), ("u", "p"));
    let call = host.redis_callouts()[0].clone();
    assert_eq!(args(&call.query), ["GET", "k"]);
    host.answer_redis(call.token, 0, b"$5\r\nvalue\r\n")
        .unwrap();
    let call = host.redis_callouts()[0].clone();
    assert_eq!(args(&call.query), ["SET", "copy", "value", "EX", "10"]);
    let state = host.answer_redis(call.token, 0, b"+OK\r\n").unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(
        host.request_header("x-redis").as_deref(),
        Some(r#"value/Simple("OK")"#)
    );
    host.complete().unwrap();

    // An error reply is a typed error the task can match.
    host.request_headers(&[(":path", "/redis-async")], true)
        .unwrap();
    let token = host.redis_callouts()[0].token;
    host.answer_redis(token, 0, b"-WRONGTYPE bad\r\n").unwrap();
    let token = host.redis_callouts()[0].token;
    host.answer_redis(token, 0, b"+OK\r\n").unwrap();
    assert_eq!(
        host.request_header("x-redis").as_deref(),
        Some(r#"reply error WRONGTYPE bad/Simple("OK")"#)
    );
    host.complete().unwrap();

    // A failed connection ends the task with an error: 500.
    host.request_headers(&[(":path", "/redis-async")], true)
        .unwrap();
    let token = host.redis_callouts()[0].token;
    let state = host.answer_redis(token, 7, b"").unwrap();
    let StreamState::Replied(reply) = state else {
        panic!("expected a 500, got {state:?}");
    };
    assert_eq!(reply.status, 500);
}
