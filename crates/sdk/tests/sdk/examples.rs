//! wasmgate-sdk examples that follow Higress's official plugins:
//! `request-block`, `key-auth`, `custom-response` and `cors`, with the cases of Higress's
//! own tests and more.

use crate::common::{replied, start, start_logs};
use wasmgate_testkit::examples::{example, Lang};
use wasmgate_testkit::{LocalReply, StreamState, TestHost};

fn header<'a>(reply: &'a LocalReply, name: &str) -> Option<&'a str> {
    reply.headers.get_str(name)
}

/// Starts a plugin that is expected to fail, returning its log lines.
fn failed_start(name: &str, config: &str) -> Vec<String> {
    let (result, lines) = start_logs(name, config);
    assert!(result.is_err(), "{name} must not start with {config}");
    lines
}

fn assert_start_fails(name: &str, config: &str, expect: &str) {
    let lines = failed_start(name, config);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("failed to start") && l.contains(expect)),
        "{config}: {lines:?}"
    );
}

// ----- request-block -----

const BLOCK: &str = r#"{
    "block_urls": ["swagger.html", "/env"],
    "block_exact_urls": ["/exact/path"],
    "block_regexp_urls": ["^/api/v[0-9]+/admin"],
    "block_headers": ["example-key", "x-evil\nyes"],
    "blocked_message": "Access denied"
}"#;

#[test]
fn request_block_blocks_urls_with_the_right_detail() {
    for (path, detail) in [
        ("/exact/path", "request-block.url_blocked.exact"),
        ("/a/SWAGGER.html?x=1", "request-block.url_blocked.keyword"),
        ("/api/v2/admin/users", "request-block.url_blocked.regexp"),
    ] {
        let mut host = start("request-block", BLOCK);
        let state = host.request_headers(&[(":path", path)], true).unwrap();
        let reply = replied(&state);
        assert_eq!(reply.status, 403, "{path}");
        assert_eq!(reply.body, b"Access denied", "{path}");
        assert_eq!(reply.details, detail, "{path}");
    }
    let mut host = start("request-block", BLOCK);
    let state = host
        .request_headers(&[(":path", "/api/admin")], true)
        .unwrap();
    assert_eq!(state, StreamState::Running);
}

#[test]
fn request_block_blocks_headers_and_reports_body_blocked() {
    let mut host = start("request-block", BLOCK);
    let state = host
        .request_headers(&[(":path", "/ok"), ("X-Evil", "YES")], true)
        .unwrap();
    let reply = replied(&state);
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.details, "request-block.body_blocked",
        "Higress's quirk"
    );
    let mut host = start("request-block", BLOCK);
    let state = host
        .request_headers(&[(":path", "/ok"), ("example-key", "1")], true)
        .unwrap();
    assert_eq!(replied(&state).status, 403);
}

#[test]
fn request_block_blocks_bodies_and_skips_unneeded_bodies() {
    let config =
        r#"{"block_bodies": ["DROP TABLE"], "blocked_code": 429, "blocked_message": "no"}"#;
    let mut host = start("request-block", config);
    assert_eq!(
        host.request_headers(&[(":path", "/q"), (":method", "POST")], false)
            .unwrap(),
        StreamState::Running
    );
    let state = host
        .request_body(b"select 1; drop table users", true)
        .unwrap();
    let reply = replied(&state);
    assert_eq!(reply.status, 429, "custom code");
    assert_eq!(reply.body, b"no");
    assert_eq!(reply.details, "request-block.body_blocked");

    // Without body rules the body is not read: even a matching URL rule set sees none.
    let mut host = start("request-block", r#"{"block_urls": ["/x"]}"#);
    host.request_headers(&[(":path", "/y")], false).unwrap();
    assert_eq!(
        host.request_body(b"/x /x /x", true).unwrap(),
        StreamState::Running
    );
}

#[test]
fn request_block_codes_case_and_config_errors() {
    let mut host = start(
        "request-block",
        r#"{"block_urls": ["/x"], "blocked_code": 999}"#,
    );
    let state = host.request_headers(&[(":path", "/x")], true).unwrap();
    assert_eq!(replied(&state).status, 403, "999 becomes 403");

    let config = r#"{"block_urls": ["/Admin"], "case_sensitive": true}"#;
    let mut host = start("request-block", config);
    assert_eq!(
        host.request_headers(&[(":path", "/admin")], true).unwrap(),
        StreamState::Running
    );
    host.complete().unwrap();
    let state = host.request_headers(&[(":path", "/Admin")], true).unwrap();
    assert_eq!(replied(&state).status, 403);

    // Exact rules count only with keyword rules (Higress's quirk), so this fails the start.
    assert_start_fails(
        "request-block",
        r#"{"block_exact_urls": ["/a"], "block_urls": [""]}"#,
        "there is no block rules",
    );
    assert_start_fails(
        "request-block",
        r#"{"block_urls": ["/a"], "block_regexp_urls": ["("]}"#,
        "invalid block_regexp_urls",
    );
}

// ----- key-auth -----

const KEY_AUTH_GLOBAL: &str = r#"
    "consumers": [
        {"name": "consumer1", "credential": "token1"},
        {"name": "consumer2", "credential": "token2"}
    ],
    "keys": ["x-api-key", "apikey"],
    "in_header": true"#;

fn key_auth(extra: &str) -> TestHost {
    start("key-auth", &format!("{{{KEY_AUTH_GLOBAL}{extra}}}"))
}

fn key_auth_route(extra: &str, route: &str) -> TestHost {
    TestHost::builder(example(Lang::Rust, "key-auth"))
        .plugin_name("key-auth")
        .route_name(route)
        .config_json(&format!("{{{KEY_AUTH_GLOBAL}{extra}}}"))
        .start()
        .expect("key-auth starts")
}

fn assert_denied(state: &StreamState, status: u32, detail: &str) {
    let reply = replied(state);
    assert_eq!(reply.status, status);
    assert_eq!(reply.details, detail);
    assert_eq!(
        header(reply, "WWW-Authenticate"),
        Some("Key realm=MSE Gateway")
    );
}

#[test]
fn key_auth_global_authenticates_every_request() {
    let mut host = key_auth("");
    let state = host
        .request_headers(&[("x-api-key", "token2")], true)
        .unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(
        host.request_header("x-mse-consumer").as_deref(),
        Some("consumer2")
    );
    host.complete().unwrap();
    let state = host.request_headers(&[], true).unwrap();
    assert_denied(&state, 401, "key-auth.no_key");
    host.complete().unwrap();
    let state = host
        .request_headers(&[("x-api-key", "token1"), ("apikey", "token2")], true)
        .unwrap();
    assert_denied(&state, 401, "key-auth.multi_key");
    host.complete().unwrap();
    let state = host
        .request_headers(&[("x-api-key", "nope")], true)
        .unwrap();
    assert_denied(&state, 403, "key-auth.unauthorized");
}

#[test]
fn key_auth_reads_the_query_when_not_in_header() {
    let config = r#"{
        "consumers": [{"name": "c1", "credential": "a b"}],
        "keys": ["apikey"], "in_query": true}"#;
    let mut host = start("key-auth", config);
    let state = host
        .request_headers(&[(":path", "/p?x=1&apikey=a%20b")], true)
        .unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(host.request_header("x-mse-consumer").as_deref(), Some("c1"));
    host.complete().unwrap();
    let state = host
        .request_headers(&[(":path", "/p?apikey=1&apikey=2")], true)
        .unwrap();
    assert_denied(&state, 401, "key-auth.multi_key");
}

const ROUTE_RULE: &str = r#",
    "_rules_": [{"_match_route_": ["route-a"], "allow": ["consumer1"]}]"#;

#[test]
fn key_auth_rule_allow_overrides_the_global_consumers() {
    // On the rule's route: consumer1 is allowed, consumer2 is known but not allowed.
    let mut host = key_auth_route(ROUTE_RULE, "route-a");
    let state = host
        .request_headers(&[("x-api-key", "token1")], true)
        .unwrap();
    assert_eq!(state, StreamState::Running);
    assert_eq!(
        host.request_header("x-mse-consumer").as_deref(),
        Some("consumer1")
    );
    host.complete().unwrap();
    let state = host
        .request_headers(&[("x-api-key", "token2")], true)
        .unwrap();
    assert_denied(&state, 403, "key-auth.unauthorized");

    // Another route: global_auth unset and rules exist → no authentication.
    let mut host = key_auth_route(ROUTE_RULE, "route-b");
    assert_eq!(
        host.request_headers(&[], true).unwrap(),
        StreamState::Running
    );
    assert_eq!(host.request_header("x-mse-consumer"), None);

    // global_auth true: other routes authenticate against every consumer.
    let extra = format!(r#", "global_auth": true{ROUTE_RULE}"#);
    let mut host = key_auth_route(&extra, "route-b");
    let state = host.request_headers(&[], true).unwrap();
    assert_denied(&state, 401, "key-auth.no_key");
    host.complete().unwrap();
    let state = host
        .request_headers(&[("x-api-key", "token2")], true)
        .unwrap();
    assert_eq!(state, StreamState::Running);

    // global_auth false without rules: nothing is authenticated.
    let mut host = key_auth(r#", "global_auth": false"#);
    assert_eq!(
        host.request_headers(&[], true).unwrap(),
        StreamState::Running
    );
}

#[test]
fn key_auth_config_errors_fail_the_start() {
    assert_start_fails(
        "key-auth",
        r#"{"consumers": [{"name": "a", "credential": "t"}], "in_header": true}"#,
        "keys is required",
    );
    assert_start_fails(
        "key-auth",
        r#"{"consumers": [{"name": "a", "credential": "t"}], "keys": ["k"]}"#,
        "in_query/in_header",
    );
    assert_start_fails(
        "key-auth",
        r#"{"consumers": [{"name": "a", "credential": "t"}, {"name": "b", "credential": "t"}],
            "keys": ["k"], "in_header": true}"#,
        "duplicate consumer credential: t",
    );
    assert_start_fails(
        "key-auth",
        &format!(r#"{{{KEY_AUTH_GLOBAL}, "_rules_": [{{"_match_route_": ["r"], "allow": []}}]}}"#),
        "allow cannot be empty",
    );
}

// ----- custom-response -----

#[test]
fn custom_response_mocks_every_request() {
    let config = r#"{"status_code": 200, "headers": ["key1=value1", "content-length=1"],
                     "body": "{\"hello\":\"world\"}"}"#;
    let mut host = start("custom-response", config);
    let state = host.request_headers(&[(":path", "/")], true).unwrap();
    let reply = replied(&state);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, br#"{"hello":"world"}"#);
    assert_eq!(reply.details, "custom-response");
    assert_eq!(header(reply, "key1"), Some("value1"));
    assert_eq!(
        header(reply, "content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(header(reply, "content-length"), None, "dropped");

    let mut host = start(
        "custom-response",
        r#"{"status_code": 418, "body": "teapot"}"#,
    );
    let state = host.request_headers(&[], true).unwrap();
    let reply = replied(&state);
    assert_eq!(reply.status, 418);
    assert_eq!(
        header(reply, "content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[test]
fn custom_response_replaces_upstream_statuses() {
    let config = r#"{"rules": [
        {"status_code": 200, "body": "not found here", "enable_on_status": [404]},
        {"status_code": 503, "headers": ["content-type=text/html"], "body": "<b>down</b>",
         "enable_on_status": ["5xx"]}
    ]}"#;
    let mut host = start("custom-response", config);
    assert_eq!(
        host.request_headers(&[], true).unwrap(),
        StreamState::Running,
        "requests go upstream"
    );
    let state = host.response_headers(&[(":status", "404")], true).unwrap();
    let reply = replied(&state);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"not found here");
    host.complete().unwrap();
    host.request_headers(&[], true).unwrap();
    let state = host.response_headers(&[(":status", "502")], true).unwrap();
    let reply = replied(&state);
    assert_eq!(reply.status, 503);
    assert_eq!(header(reply, "content-type"), Some("text/html"));
    host.complete().unwrap();
    host.request_headers(&[], true).unwrap();
    assert_eq!(
        host.response_headers(&[(":status", "200")], true).unwrap(),
        StreamState::Running
    );
}

#[test]
fn custom_response_config_errors_fail_the_start() {
    assert_start_fails(
        "custom-response",
        r#"{"headers": ["novalue"]}"#,
        "invalid header pair format: novalue",
    );
    assert_start_fails(
        "custom-response",
        r#"{"rules": [{"enable_on_status": [404]}, {"enable_on_status": ["404"]}]}"#,
        "can only be used once",
    );
    assert_start_fails(
        "custom-response",
        r#"{"enable_on_status": ["5x"]}"#,
        "length must be 3",
    );
    assert_start_fails("custom-response", r#"{"rules": []}"#, "no valid config");
}

// ----- cors -----

fn cors(config: &str) -> TestHost {
    start("cors", config)
}

#[test]
fn cors_preflight_is_answered_with_the_cors_headers() {
    let config = r#"{"allow_origins": ["https://app.example.com"],
                     "allow_methods": ["GET", "post"], "allow_headers": ["X-Token", "Content-Type"],
                     "expose_headers": ["X-Trace"], "allow_credentials": true, "max_age": 600}"#;
    let mut host = cors(config);
    let state = host
        .request_headers(
            &[
                (":method", "OPTIONS"),
                (":authority", "api.example.com"),
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "x-token"),
            ],
            true,
        )
        .unwrap();
    let reply = replied(&state);
    assert_eq!(reply.status, 200);
    assert_eq!(
        header(reply, "Access-Control-Allow-Origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(reply, "Access-Control-Allow-Methods"),
        Some("GET,POST")
    );
    assert_eq!(
        header(reply, "Access-Control-Allow-Headers"),
        Some("X-Token,Content-Type")
    );
    assert_eq!(
        header(reply, "Access-Control-Expose-Headers"),
        Some("X-Trace")
    );
    assert_eq!(
        header(reply, "Access-Control-Allow-Credentials"),
        Some("true")
    );
    assert_eq!(header(reply, "Access-Control-Max-Age"), Some("600"));
}

#[test]
fn cors_simple_request_gets_headers_on_the_response() {
    let mut host = cors(r#"{}"#);
    let state = host
        .request_headers(
            &[
                (":authority", "api.example.com"),
                ("origin", "http://other.com"),
            ],
            true,
        )
        .unwrap();
    assert_eq!(state, StreamState::Running);
    host.response_headers(
        &[("access-control-allow-origin", "http://upstream-set.com")],
        false,
    )
    .unwrap();
    assert_eq!(
        host.response_header("access-control-allow-origin")
            .as_deref(),
        Some("*"),
        "the upstream's header is replaced"
    );
    assert_eq!(
        host.response_header("x-cors-version").as_deref(),
        Some("1.0.0")
    );
    assert_eq!(host.response_header("access-control-max-age"), None);

    // Same origin: not a CORS request, no CORS headers.
    let mut host = cors(r#"{}"#);
    host.request_headers(
        &[
            (":authority", "api.example.com:80"),
            ("origin", "http://api.example.com"),
        ],
        true,
    )
    .unwrap();
    host.response_headers(&[], false).unwrap();
    assert_eq!(host.response_header("access-control-allow-origin"), None);
}

#[test]
fn cors_rejects_what_is_not_allowed() {
    let config = r#"{"allow_origin_patterns": ["https://*.example.com:[8080,443]"],
                     "allow_methods": ["GET"], "allow_headers": ["X-Token"]}"#;
    let cases: [(&[(&str, &str)], bool); 5] = [
        (&[("origin", "https://a.example.com:8080")], true),
        (&[("origin", "https://a.example.com:9090")], false),
        (&[("origin", "https://a.example.com.evil.org:8080")], false),
        (
            &[("origin", "https://a.example.com:8080"), (":method", "PUT")],
            false,
        ),
        (
            &[
                ("origin", "https://a.example.com:443"),
                (":method", "OPTIONS"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "x-other"),
            ],
            false,
        ),
    ];
    for (headers, allowed) in cases {
        let mut host = cors(config);
        let state = host.request_headers(headers, true).unwrap();
        if allowed {
            assert_eq!(state, StreamState::Running, "{headers:?}");
        } else {
            let reply = replied(&state);
            assert_eq!(reply.status, 403, "{headers:?}");
            assert_eq!(reply.body, b"Invalid CORS request");
        }
    }
}
