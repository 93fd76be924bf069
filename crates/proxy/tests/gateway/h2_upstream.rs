//! HTTP/2 upstreams: a cluster with `protocol: http2` gets its requests, and plugins' callouts,
//! over HTTP/2 (h2c in cleartext, ALPN `h2` over TLS), multiplexed on one connection, with
//! the `Host` as `:authority` and no connection-specific headers; the answer reaches the
//! HTTP/1.1 client as usual. An upstream that speaks only HTTP/1 gets the 503 of a failed
//! exchange.

use crate::common::{self, Body, Client, Config};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use wasmgate_testkit::examples::{example, Lang};

/// An HTTP/2-only server on a free port that says what it received:
/// `version=… authority=… host=… te=… connection=… path=… body=…`, with an
/// `x-token: <version>` header (for the `http-call` plugin) and `x-upstream: h2`. `/slow`
/// answers after 300 ms.
struct H2Upstream {
    address: SocketAddr,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    /// Connections accepted so far.
    connections: AtomicUsize,
    /// Requests to `/slow` being answered now, and the most there were at once.
    slow: AtomicUsize,
    most_slow: AtomicUsize,
}

fn h2_upstream(tls: Option<tokio_rustls::TlsAcceptor>) -> H2Upstream {
    let counts = Arc::new(Counts::default());
    let counted = counts.clone();
    let address = common::accept_in_background(move |stream| {
        counted.connections.fetch_add(1, Ordering::SeqCst);
        let tls = tls.clone();
        let counts = counted.clone();
        async move {
            let builder = http2::Builder::new(TokioExecutor::new());
            let service = service_fn(move |request| report(request, counts.clone()));
            match tls {
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                Some(acceptor) => {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        }
    });
    H2Upstream { address, counts }
}

async fn report(
    request: http::Request<hyper::body::Incoming>,
    counts: Arc<Counts>,
) -> Result<http::Response<Full<Bytes>>, hyper::Error> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    let version = format!("{:?}", request.version());
    let head = format!(
        "version={version} authority={} host={} te={} connection={} path={}",
        request.uri().authority().map_or("-", |a| a.as_str()),
        header("host"),
        header("te"),
        header("connection"),
        request.uri().path(),
    );
    if request.uri().path() == "/slow" {
        let now = counts.slow.fetch_add(1, Ordering::SeqCst) + 1;
        counts.most_slow.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        counts.slow.fetch_sub(1, Ordering::SeqCst);
    }
    let body = request.into_body().collect().await?.to_bytes();
    let text = format!("{head} body={}", String::from_utf8_lossy(&body));
    Ok(http::Response::builder()
        .header("x-token", version)
        .header("x-upstream", "h2")
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_default())
}

/// A CA (written as `DIR/ca.pem`) and a TLS acceptor for `localhost` with a certificate it
/// signed, agreeing to the one protocol `alpn` by ALPN.
fn h2_tls(dir: &Path, alpn: &[u8]) -> (tokio_rustls::TlsAcceptor, PathBuf) {
    let pki = common::Pki::new(dir);
    let server = pki
        .server("localhost", &["localhost"])
        .server_config(&[alpn]);
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        pki.ca_file,
    )
}

/// A gateway routing everything to an HTTP/2 TLS cluster `secure`, whose upstream agrees to
/// `alpn` only.
fn secure_gateway(dir: &Path, alpn: &[u8]) -> (common::Running, H2Upstream) {
    let (acceptor, ca_file) = h2_tls(dir, alpn);
    let upstream = h2_upstream(Some(acceptor));
    let endpoint = format!("localhost:{}", upstream.address.port());
    let ca_file = format!("ca_file: {}", ca_file.display());
    let config = Config::new()
        .cluster("secure", &endpoint, &["protocol: http2", &ca_file])
        .route("r", "secure", &[]);
    (common::start(&config, dir), upstream)
}

#[test]
fn an_http2_cluster_gets_h2c_requests_and_its_answers_reach_the_client() {
    let dir = common::tempdir("h2c");
    let upstream = h2_upstream(None);
    let config = Config::new()
        .setting("workers: 1")
        .cluster("api", upstream.address, &["protocol: http2"])
        .route("r", "api", &[]);
    let gateway = common::start(&config, &dir);

    let answer = common::exchange(
        gateway.address,
        "test.local",
        "POST",
        "/echo?q=1",
        &[("te", "trailers"), ("keep-alive", "timeout=5")],
        Body::Whole(b"hello"),
    );
    assert_eq!(answer.status, 200, "{answer}");
    assert_eq!(answer.header("x-upstream"), Some("h2"), "{answer}");
    // `:authority` is the client's Host; no `host`, no connection headers, `te: trailers`.
    assert_eq!(
        answer.text(),
        "version=HTTP/2.0 authority=test.local host=- te=trailers connection=- path=/echo body=hello",
    );

    // A chunked body streams to the upstream as HTTP/2 data (no transfer-encoding).
    let answer = common::exchange(
        gateway.address,
        "test.local",
        "POST",
        "/chunked",
        &[],
        Body::Chunked(&[b"ab", b"cd"]),
    );
    assert_eq!(answer.status, 200, "{answer}");
    assert!(
        answer.text().ends_with("path=/chunked body=abcd"),
        "{answer}"
    );
    assert_eq!(upstream.counts.connections.load(Ordering::SeqCst), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_route_host_rewrite_is_the_h2_authority() {
    let dir = common::tempdir("h2c-rewrite");
    let upstream = h2_upstream(None);
    let config = Config::new()
        .cluster("api", upstream.address, &["protocol: http2"])
        .route("r", "api", &["host_rewrite: api.test"]);
    let gateway = common::start(&config, &dir);
    let answer = gateway.get("/x", &[]);
    assert_eq!(answer.status, 200, "{answer}");
    assert!(
        answer
            .text()
            .starts_with("version=HTTP/2.0 authority=api.test host=- "),
        "{answer}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn concurrent_requests_share_one_h2_connection() {
    let dir = common::tempdir("h2c-multiplex");
    let upstream = h2_upstream(None);
    let config = Config::new()
        .setting("workers: 1")
        .cluster("api", upstream.address, &["protocol: http2"])
        .route("r", "api", &[]);
    let gateway = common::start(&config, &dir);
    let address = gateway.address;
    let clients: Vec<_> = (0..6)
        .map(|_| std::thread::spawn(move || common::get(address, "/slow", &[])))
        .collect();
    for client in clients {
        let answer = client.join().expect("a client");
        assert_eq!(answer.status, 200, "{answer}");
        assert!(answer.text().starts_with("version=HTTP/2.0"), "{answer}");
    }
    // Answered at the same time, on one connection.
    assert_eq!(upstream.counts.connections.load(Ordering::SeqCst), 1);
    let most = upstream.counts.most_slow.load(Ordering::SeqCst);
    assert!(most > 1, "at most {most} request(s) at once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tls_http2_cluster_is_reached_with_alpn_h2() {
    let dir = common::tempdir("h2-tls");
    let (gateway, _upstream) = secure_gateway(&dir, b"h2");
    let answer = gateway.get_host("test.local", "/secure");
    assert_eq!(answer.status, 200, "{answer}");
    assert!(
        answer
            .text()
            .starts_with("version=HTTP/2.0 authority=test.local host=- "),
        "{answer}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_plugin_callout_to_an_http2_cluster_goes_over_h2() {
    let dir = common::tempdir("h2-callout");
    let upstream = h2_upstream(None);
    let echo = common::echo();
    let wasm = example(Lang::Rust, "http-call");
    let config = Config::routed_to(echo.local_addr())
        .cluster("auth", upstream.address, &["protocol: http2"])
        .plugin(
            "http-call",
            &wasm,
            &[r#"config: {"cluster": "outbound|80||auth.dns", "path": "/token"}"#],
        );
    let gateway = common::start(&config, &dir);
    let answer = gateway.get("/api", &[]);
    assert_eq!(answer.status, 200, "{answer}");
    // The h2 upstream answered the callout with `x-token: HTTP/2.0`; the plugin copied it.
    assert_eq!(
        answer.upstream_header("x-token").as_deref(),
        Some("HTTP/2.0"),
        "{answer}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_http1_upstream_on_an_http2_cluster_gets_503_and_the_gateway_goes_on() {
    let dir = common::tempdir("h2-to-h1");
    let echo = common::echo();
    let config = Config::new()
        .cluster("h1only", echo.local_addr(), &["protocol: http2"])
        .cluster("fine", echo.local_addr(), &[])
        .route("wrong", "h1only", &["path_prefix: /wrong"])
        .route("right", "fine", &[]);
    let gateway = common::start(&config, &dir);
    for _ in 0..2 {
        let answer = gateway.get("/wrong", &[]);
        assert_eq!(answer.status, 503, "{answer}");
        // The connection is set up (h2c needs no answer for that), then closes unanswered.
        assert!(
            answer
                .text()
                .ends_with("reset reason: connection termination"),
            "{answer}"
        );
    }
    let answer = gateway.get("/right", &[]);
    assert_eq!(answer.status, 200, "{answer}");
    assert_eq!(answer.echoed()["path"], "/right", "{answer}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tls_upstream_refusing_h2_gets_503() {
    let dir = common::tempdir("h2-tls-refused");
    let (gateway, _upstream) = secure_gateway(&dir, b"http/1.1");
    let answer = gateway.get("/secure", &[]);
    assert_eq!(answer.status, 503, "{answer}");
    assert!(
        answer
            .text()
            .ends_with("reset reason: remote connection failure"),
        "{answer}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
