//! TLS upstreams: a cluster with `tls` is reached over HTTPS, checked against the roots the
//! gateway trusts (the public ones and the clusters' `ca_file`s), for requests and for
//! plugins' callouts alike; an upstream whose certificate nobody vouches for gets no request.

use crate::common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use wasmgate_proxy::Gateway;
use wasmgate_proxy::{ClusterSpec, GatewayConfig, PluginSpec};
use wasmgate_testkit::examples::{example, Lang};

/// A CA, and an HTTPS server for `localhost` with a certificate it signed. It answers
/// every request with `host=<Host> path=<path>` and an `x-token: secret` header.
struct TlsUpstream {
    address: SocketAddr,
    ca_file: PathBuf,
}

impl TlsUpstream {
    /// `localhost:PORT`: the name its certificate is for.
    fn endpoint(&self) -> String {
        format!("localhost:{}", self.address.port())
    }
}

fn tls_upstream(dir: &std::path::Path) -> TlsUpstream {
    let pki = common::Pki::new(dir);
    let ca_file = pki.ca_file.clone();
    let server = pki.server("localhost", &["localhost"]).server_config(&[]);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let address = common::accept_in_background(move |stream| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = service_fn(|request: http::Request<hyper::body::Incoming>| {
                let host = request
                    .headers()
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let body = format!("host={host} path={}", request.uri().path());
                let response = http::Response::builder()
                    .header("x-token", "secret")
                    .body(Full::new(Bytes::from(body)));
                async move { response }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    });
    TlsUpstream { address, ca_file }
}

/// The upstream as the gateway's TLS cluster `c`, trusting the public roots only.
fn tls_config(upstream: &TlsUpstream) -> GatewayConfig {
    let mut config = common::one_upstream(&upstream.endpoint(), 1);
    config.clusters[0].tls = true;
    config
}

#[test]
fn a_tls_cluster_is_reached_over_https_by_requests_and_callouts() {
    let dir = common::tempdir("tls-ok");
    let upstream = tls_upstream(&dir);
    let mut config = tls_config(&upstream);
    config.clusters[0].ca_file = Some(upstream.ca_file.clone());
    config.routes[0].host_rewrite = Some("api.test".into());
    config.clusters.push(ClusterSpec {
        name: "auth".into(),
        endpoints: vec![upstream.endpoint()],
        tls: true,
        ..ClusterSpec::default()
    });
    config.plugins.push(PluginSpec::new(
        "http-call",
        example(Lang::Rust, "http-call"),
        br#"{"cluster": "outbound|443||auth.dns", "path": "/token"}"#.to_vec(),
    ));
    let gateway = Gateway::start(config).expect("the gateway starts");
    let answer = common::get(gateway.local_addr(), "/api", &[]);
    assert_eq!(answer.status, 200, "{answer:?}");
    // The route's Host, and the callout's token fetched over TLS too (else 500).
    assert!(
        answer.text().ends_with("host=api.test path=/api"),
        "{answer:?}"
    );
    gateway.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_upstream_nobody_vouches_for_gets_no_request() {
    let dir = common::tempdir("tls-untrusted");
    let upstream = tls_upstream(&dir);
    let gateway = Gateway::start(tls_config(&upstream)).expect("the gateway starts");
    let answer = common::get(gateway.local_addr(), "/api", &[]);
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(
        answer
            .text()
            .ends_with("reset reason: remote connection failure"),
        "{answer:?}"
    );
    gateway.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_ca_file_stops_the_start() {
    let dir = common::tempdir("tls-bad-ca");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, "not a certificate").expect("written");
    let mut config = common::one_upstream("localhost:1", 1);
    config.clusters[0].tls = true;
    config.clusters[0].ca_file = Some(ca_file);
    let error = Gateway::start(config).err().expect("refused");
    assert!(
        error.to_string().contains("holds no PEM certificate"),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
