//! Plugins' gRPC calls and streams through the gateway, against a real grpcio server
//! (`python/grpc_server.py`) behind an HTTP/2 cluster, with the `grpc-authz` fixture plugin
//! (ext-authz over gRPC on wasmgate-sdk's client): an answer lets the request through, a
//! server's error status, an unreachable service (14) and a timeout (4) reach the plugin,
//! an HTTP error answer without a gRPC status (1, as Envoy's client), a stream echoes message
//! by message, a cancelled stream delivers nothing.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

use wasmgate_testkit::examples::fixture;

use crate::common::{self, Client, Config, PythonServer};

const SERVER: &str = include_str!("python/grpc_server.py");

/// The grpcio server, stopped when dropped.
fn grpc_server() -> PythonServer {
    PythonServer::start(SERVER, &[])
}

/// A gateway whose `grpc-authz` plugin calls the cluster `grpc` at `grpc` (an HTTP/2
/// cluster), with `timeout_ms` 300, in front of an echo upstream.
fn gateway(tag: &str, grpc: SocketAddr, echo: SocketAddr, cluster: &str) -> common::Running {
    let dir = common::tempdir(tag);
    let plugin_config = format!(r#"config: {{"cluster": "{cluster}", "timeout_ms": 300}}"#);
    let config = Config::routed_to(echo)
        .setting("workers: 1")
        .cluster("grpc", grpc, &["protocol: http2"])
        .plugin("authz", fixture("grpc-authz"), &[&plugin_config]);
    common::start(&config, &dir)
}

#[test]
fn a_unary_answer_lets_the_request_through_and_a_deny_answer_stops_it() {
    let server = grpc_server();
    let echo = common::echo();
    let gateway = gateway("grpc-unary", server.address, echo.local_addr(), "grpc");

    let answer = gateway.get("/hello", &[]);
    assert_eq!(answer.status, 200, "{answer}");
    // The server answered `echo:<message>`; the message was the path.
    assert_eq!(
        answer.upstream_header("x-authz").as_deref(),
        Some("echo:/hello")
    );

    let answer = gateway.get("/deny", &[]);
    assert_eq!(answer.status, 403, "{answer}");
    assert_eq!(answer.text(), "denied");
}

#[test]
fn a_server_error_status_and_message_reach_the_plugin() {
    let server = grpc_server();
    let echo = common::echo();
    let gateway = gateway("grpc-fail", server.address, echo.local_addr(), "grpc");
    let answer = gateway.get("/x", &[("x-method", "Fail")]);
    assert_eq!(answer.status, 403, "{answer}");
    assert_eq!(answer.header("x-grpc-status"), Some("5"), "{answer}");
    assert_eq!(answer.text(), "no such thing");

    // An unknown method: the server's UNIMPLEMENTED.
    let answer = gateway.get("/x", &[("x-method", "Nope")]);
    assert_eq!(answer.header("x-grpc-status"), Some("12"), "{answer}");
}

#[test]
fn an_unreachable_service_and_a_slow_one_are_unavailable() {
    let server = grpc_server();
    let echo = common::echo();
    let dead = gateway(
        "grpc-dead",
        common::dead_address(),
        echo.local_addr(),
        "grpc",
    );
    let answer = dead.get("/x", &[]);
    assert_eq!(answer.status, 403, "{answer}");
    assert_eq!(answer.header("x-grpc-status"), Some("14"), "{answer}");
    assert!(
        answer.text().starts_with("upstream connect error"),
        "{answer}"
    );

    let live = gateway("grpc-slow", server.address, echo.local_addr(), "grpc");
    let answer = live.get("/x", &[("x-method", "Slow")]);
    assert_eq!(answer.status, 403, "{answer}");
    assert_eq!(answer.header("x-grpc-status"), Some("14"), "{answer}");
    assert_eq!(answer.text(), "upstream request timeout");
}

/// An HTTP/2 server that is no gRPC service: every request gets a 404 with a text body.
fn not_grpc() -> SocketAddr {
    common::accept_in_background(|stream| async move {
        let service = service_fn(|_request: http::Request<hyper::body::Incoming>| async {
            let response = http::Response::builder()
                .status(404)
                .body(Full::new(Bytes::from_static(b"no such page")));
            Ok::<_, Infallible>(response.unwrap_or_default())
        });
        let _ = http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), service)
            .await;
    })
}

#[test]
fn an_http_error_without_a_grpc_status_is_cancelled_as_envoy_gives_it() {
    let echo = common::echo();
    let gateway = gateway("grpc-404", not_grpc(), echo.local_addr(), "grpc");
    let answer = gateway.get("/x", &[]);
    assert_eq!(answer.status, 403, "{answer}");
    assert_eq!(answer.header("x-grpc-status"), Some("1"), "{answer}");
}

#[test]
fn a_call_to_an_unknown_cluster_is_refused_at_once() {
    let server = grpc_server();
    let echo = common::echo();
    let gateway = gateway("grpc-unknown", server.address, echo.local_addr(), "nope");
    let answer = gateway.get("/x", &[]);
    assert_eq!(answer.status, 500, "{answer}");
    assert!(answer.text().contains("ParseFailure"), "{answer}");
}

#[test]
fn a_stream_echoes_each_message_and_a_cancelled_one_delivers_nothing() {
    let server = grpc_server();
    let echo = common::echo();
    let gateway = gateway("grpc-stream", server.address, echo.local_addr(), "grpc");
    let answer = gateway.get("/stream", &[("x-messages", "a,b,c")]);
    assert_eq!(answer.status, 200, "{answer}");
    assert_eq!(answer.header("x-grpc-status"), Some("0"), "{answer}");
    assert_eq!(answer.text(), "re:a,re:b,re:c");

    let answer = gateway.get("/cancel", &[]);
    assert_eq!(answer.status, 200, "{answer}");
    assert_eq!(
        answer.upstream_header("x-cancelled").as_deref(),
        Some("yes")
    );
    // The VM kept working (a late event would have reached its handler and been logged;
    // the next call still gets its answer).
    let answer = gateway.get("/after", &[]);
    assert_eq!(
        answer.upstream_header("x-authz").as_deref(),
        Some("echo:/after"),
        "{answer}"
    );
}
