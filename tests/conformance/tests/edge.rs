//! The edge against Envoy: requests over HTTP/2 cleartext (prior knowledge) and over TLS
//! (HTTP/1.1 and h2 by ALPN, with SNI, optionally with a client certificate), compared as
//! the plain HTTP/1.1 cases are: what the plugins see (the ABI-wide plugins' reports, and
//! abi-probe's `connection` case: `request.protocol`, the `connection.*` TLS facts, the
//! header names and pseudo-headers), what the upstream received, what the client got.

use wasmgate_conformance::{fixture, Case, Exchange, Plugin, Request, Tls, Transport};

const ABI_WIDE: &str = r#"{"calloutCluster": "callout", "calloutTimeout": 5000}"#;

/// The two ABI-wide twins (see abi_wide.rs), both named `abi-wide`.
fn twins() -> [(&'static str, Plugin); 2] {
    [
        ("go", Plugin::conformance_go("abi-wide", ABI_WIDE)),
        (
            "rust",
            Plugin {
                name: "abi-wide".to_string(),
                wasm: fixture("sdk-abi-wide"),
                config: ABI_WIDE.to_string(),
            },
        ),
    ]
}

/// A GET and a POST with a body (one data frame), and a POST whose body comes in three
/// frames without `content-length`, each with `x-probe: action`.
fn get_and_post(action: &str) -> Vec<Request> {
    vec![
        Request::get("/h2?q=1").header("x-probe", action),
        Request::new("POST", "/submit")
            .header("x-probe", action)
            .body("hello body"),
        Request::new("POST", "/frames")
            .header("x-probe", action)
            .body("hello framed body")
            .chunked(6),
    ]
}

fn abi_wide_over_h2c(group: &str, actions: &[&str]) {
    let requests: Vec<Request> = actions.iter().flat_map(|a| get_and_post(a)).collect();
    for (lang, plugin) in twins() {
        Case::new(
            &format!("{lang}/abi-wide h2c {group}"),
            vec![plugin],
            requests.clone(),
        )
        .over(Transport::H2c)
        .check();
    }
}

/// (a) The plugin's view of headers and properties, and the upstream's, over h2c.
#[test]
fn abi_wide_h2c_headers_and_properties() {
    abi_wide_over_h2c("headers and properties", &["headers", "props"]);
}

/// (a) Bodies changed by the plugin on both sides, over h2c.
#[test]
fn abi_wide_h2c_bodies() {
    abi_wide_over_h2c("bodies", &["req-append", "resp-replace", "req-stream"]);
}

fn abi_probe(name: &str, requests: Vec<Request>) -> Case {
    Case::new(
        &format!("rust/abi-probe {name}"),
        vec![Plugin::fixture("abi-probe", "")],
        requests,
    )
}

/// abi-probe's `connection` case: a GET and a POST with a body.
fn connection_requests() -> Vec<Request> {
    vec![
        Request::get("/conn?q=1").header("x-probe", "connection"),
        Request::new("POST", "/conn")
            .header("x-probe", "connection")
            .header("user-agent", "conformance/1")
            .body("posted"),
    ]
}

const INTERLEAVED: &str = "a name repeated with other headers between its values: Envoy's \
    header map keeps the wire order (`x-r,x-b,x-r`), wasmgate's (from hyper's `http::HeaderMap`) \
    groups one name's values at its first place (`x-r,x-r,x-b`). The same names, in another \
    order; the values of one name keep their order";

/// The header names abi-probe saw, sorted: both hosts must show the same set.
fn same_names(exchanges: &[Exchange]) {
    let names = |body: &[u8]| -> Vec<String> {
        let report: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let mut names: Vec<String> = report["headers"]["x-conn-header-names"]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .map(str::to_string)
            .collect();
        names.sort();
        names
    };
    for exchange in exchanges {
        assert_eq!(
            names(&exchange.envoy.body),
            names(&exchange.wasmgate.body),
            "{}: the plugin sees other header names",
            exchange.request
        );
    }
}

/// An HTTP/1.1 case: the same headers, in the same order, on both sides.
fn http1_check(case: Case) {
    case.check();
}

/// A case whose header names differ in order only, for `reason`.
fn http1_check_with(case: Case, reason: &'static str) {
    let exchanges = case
        .expect_different_in(&["x-conn-header-names"], reason)
        .check();
    same_names(&exchanges);
}

/// (b) The baseline: the same requests over plain HTTP/1.1.
#[test]
fn connection_over_http1() {
    http1_check(abi_probe("connection http/1.1", connection_requests()));
}

/// (b) Hop-by-hop headers over plain HTTP/1.1: the plugin sees none of `connection`,
/// `keep-alive`, `proxy-connection`, `transfer-encoding`.
#[test]
fn connection_over_http1_hop_by_hop() {
    let requests = vec![
        Request::new("POST", "/hop")
            .header("x-probe", "connection")
            .header("keep-alive", "timeout=5")
            .body("chunked body")
            .chunked(4),
        Request::get("/hop")
            .header("x-probe", "connection")
            .header("proxy-connection", "keep-alive")
            .header("te", "gzip"),
    ];
    http1_check(abi_probe("connection http/1.1 hop-by-hop", requests));
}

/// (b) `te` over plain HTTP/1.1: kept as `trailers` when it names `trailers`.
#[test]
fn connection_over_http1_te() {
    let requests = vec![
        Request::get("/te")
            .header("x-probe", "connection")
            .header("te", "trailers"),
        Request::get("/te")
            .header("x-probe", "connection")
            .header("te", "gzip, trailers"),
    ];
    abi_probe("connection http/1.1 te", requests).check();
}

/// (b) Over h2c: `request.protocol` `HTTP/2`, the pseudo-headers the plugin sees, no TLS facts.
#[test]
fn connection_over_h2c() {
    abi_probe("connection h2c", connection_requests())
        .over(Transport::H2c)
        .check();
}

/// (b) TLS with HTTP/1.1 by ALPN: `:scheme`/`x-forwarded-proto` `https`, the SNI, the TLS
/// version, the server certificate's subject and DNS SAN.
#[test]
fn connection_over_tls_http1() {
    http1_check(
        abi_probe("connection tls http/1.1", connection_requests())
            .over(Transport::Tls(Tls::http1())),
    );
}

/// (b) TLS with h2 by ALPN.
#[test]
fn connection_over_tls_h2() {
    abi_probe("connection tls h2", connection_requests())
        .over(Transport::Tls(Tls::h2()))
        .check();
}

/// (b) TLS without SNI: `requested_server_name` as each host gives it then.
#[test]
fn connection_over_tls_without_sni() {
    let tls = Tls {
        sni: None,
        ..Tls::h2()
    };
    abi_probe("connection tls h2 no sni", connection_requests())
        .over(Transport::Tls(tls))
        .check();
}

/// (c) mTLS: the client's certificate, over h2 and HTTP/1.1 (`connection.mtls`, the peer's
/// subject, URI SAN and digest).
#[test]
fn connection_with_a_client_certificate() {
    abi_probe("connection mtls h2", connection_requests())
        .over(Transport::Tls(Tls::h2().with_client_certificate()))
        .check();
    http1_check(
        abi_probe("connection mtls http/1.1", connection_requests())
            .over(Transport::Tls(Tls::http1().with_client_certificate())),
    );
}

/// (d) Two `cookie` headers over h2: one `cookie` to the plugin and to the upstream, joined
/// with `; `.
fn cookie_requests() -> Vec<Request> {
    vec![Request::get("/cookies")
        .header("x-probe", "connection")
        .header("cookie", "a=1")
        .header("x-between", "x")
        .header("cookie", "b=2; c=3")]
}

/// The same two `cookie` headers over HTTP/1.1: both stay, in the wire order on Envoy's side.
#[test]
fn cookies_over_http1() {
    http1_check_with(
        abi_probe("cookies http/1.1", cookie_requests()),
        INTERLEAVED,
    );
}

#[test]
fn cookies_over_h2c() {
    abi_probe("cookies h2c", cookie_requests())
        .over(Transport::H2c)
        .check();
}

#[test]
fn cookies_over_tls_h2() {
    abi_probe("cookies tls h2", cookie_requests())
        .over(Transport::Tls(Tls::h2()))
        .check();
}

/// `te: trailers` over h2c (the only `te` HTTP/2 allows): the plugin sees it on both sides.
#[test]
fn te_trailers_over_h2c() {
    let requests = vec![Request::get("/te")
        .header("x-probe", "connection")
        .header("te", "trailers")];
    abi_probe("te h2c", requests).over(Transport::H2c).check();
}
