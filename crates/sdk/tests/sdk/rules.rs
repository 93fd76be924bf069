//! wasmgate-sdk's rules: Higress's `_rules_` matching, run as a table through a real
//! plugin (`tests/plugins/sdk-probe`, which adds `x-config: <name of the picked config>`).

use wasmgate_testkit::examples::fixture;
use wasmgate_testkit::{LogLevel, StreamState, TestHost};

const CONFIG: &str = r#"{
    "name": "global",
    "_plugin_id_": "p-1",
    "_rules_": [
        {"_match_route_": ["route-a", "route-b"], "name": "routes"},
        {"_match_domain_": ["*.example.com"], "name": "suffix"},
        {"_match_domain_": ["www.*"], "name": "prefix"},
        {"_match_domain_": ["exact.test.com"], "name": "exact"},
        {"_match_service_": ["svc.dns"], "name": "service"},
        {"_match_service_": ["svc.static:8080"], "name": "service-port"},
        {"_match_route_": ["route-c"], "_match_service_": ["both.dns"], "name": "route+service"},
        {"_match_route_prefix_": ["api-"], "name": "route-prefix"},
        {"_match_route_": ["route-a"], "name": "shadowed"}
    ]
}"#;

fn pick(config: &str, route: &str, host: &str, cluster: &str) -> Option<String> {
    let mut test = TestHost::builder(fixture("sdk-probe"))
        .plugin_name("sdk-probe")
        .config_json(config)
        .route_name(route)
        .cluster_name(cluster)
        .start()
        .expect("plugin starts");
    let state = test
        .request_headers(&[(":authority", host), (":path", "/")], true)
        .unwrap();
    assert_eq!(state, StreamState::Running);
    test.request_header("x-config")
}

#[test]
fn the_matching_table() {
    let table = [
        // route: exact, first matching rule wins (not "shadowed")
        ("route-a", "x.com", "outbound|80||x.dns", Some("routes")),
        ("route-b", "a.example.com", "", Some("routes")),
        // domains: suffix, with the port stripped, prefix, exact
        ("r", "a.example.com", "", Some("suffix")),
        ("r", "a.example.com:8080", "", Some("suffix")),
        ("r", "www.other.org", "", Some("prefix")),
        ("r", "exact.test.com", "", Some("exact")),
        ("r", "exact.test.com.cn", "", Some("global")),
        // services: fqdn, fqdn:port, a wrong port, a cluster name that is not 4 parts
        ("r", "h", "outbound|80||svc.dns", Some("service")),
        ("r", "h", "outbound|8080||svc.static", Some("service-port")),
        ("r", "h", "outbound|9090||svc.static", Some("global")),
        ("r", "h", "svc.dns", Some("global")),
        // route + service: both must match
        (
            "route-c",
            "h",
            "outbound|80||both.dns",
            Some("route+service"),
        ),
        ("route-c", "h", "outbound|80||other.dns", Some("global")),
        // route prefix
        ("api-users", "h", "", Some("route-prefix")),
        // no match: the global config
        ("nope", "nothing.org", "outbound|1||x", Some("global")),
    ];
    for (route, host, cluster, want) in table {
        assert_eq!(
            pick(CONFIG, route, host, cluster).as_deref(),
            want,
            "route={route} host={host} cluster={cluster}"
        );
    }
}

#[test]
fn no_global_and_no_match_skips_the_plugin() {
    let config = r#"{"_rules_": [{"_match_domain_": ["*.example.com"], "name": "only"}]}"#;
    assert_eq!(
        pick(config, "r", "a.example.com", "").as_deref(),
        Some("only")
    );
    assert_eq!(pick(config, "r", "other.org", ""), None);
}

#[test]
fn a_skipped_request_skips_every_phase() {
    let config = r#"{"_rules_": [{"_match_route_": ["x"], "name": "only"}]}"#;
    let mut host = TestHost::builder(fixture("sdk-probe"))
        .config_json(config)
        .start()
        .unwrap();
    host.request_headers(&[(":path", "/up")], false).unwrap();
    host.request_body(b"abc", true).unwrap();
    assert_eq!(host.request_body_bytes(), b"abc", "no streaming handler");
    host.response_headers(&[], false).unwrap();
    assert_eq!(host.response_header("x-path"), None);
    host.response_body(b"r", true).unwrap();
    assert_eq!(host.response_body_bytes(), b"r");
}

#[test]
fn star_matches_every_domain() {
    let config = r#"{"_rules_": [{"_match_domain_": ["*"], "name": "all"}]}"#;
    assert_eq!(
        pick(config, "r", "anything.io:1", "").as_deref(),
        Some("all")
    );
}

#[test]
fn ignored_match_keys_are_warned_about() {
    let config = r#"{"name": "g", "_rules_": [
        {"_match_route_": ["r"], "_match_domain_": ["d.com"], "name": "route-wins"}
    ]}"#;
    let mut host = TestHost::builder(fixture("sdk-probe"))
        .config_json(config)
        .route_name("r")
        .start()
        .unwrap();
    host.request_headers(&[(":authority", "other.com")], true)
        .unwrap();
    assert_eq!(
        host.request_header("x-config").as_deref(),
        Some("route-wins")
    );
    let warnings = host.log_messages(LogLevel::Warn);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("rule _match_domain_ is ignored")),
        "{warnings:?}"
    );
}

#[test]
fn merged_rules_inherit_global_keys_and_drop_match_keys() {
    // sdk-probe uses `merge_rules` and a strict (deny_unknown_fields) config: the rule gets
    // `name` from the global keys, and the `_match_*` keys never reach the deserializer.
    let config = r#"{"name": "g", "upstream": "u", "_rules_": [{"_match_route_": ["r"]}]}"#;
    assert_eq!(pick(config, "r", "h", "").as_deref(), Some("g"));
    let config = r#"{"name": "g", "_rules_": [{"_match_route_": ["r"], "bogus": 1}]}"#;
    let result = TestHost::builder(fixture("sdk-probe"))
        .config_json(config)
        .start();
    assert!(result.is_err(), "an unknown key in a rule fails the start");
}
