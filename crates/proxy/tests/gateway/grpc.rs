//! gRPC through the gateway with a plugin on every phase (`trailer-probe`): a real gRPC client
//! and server (grpcio) get their messages, metadata, trailers and statuses; the plugin reads
//! and changes the trailers; its local reply, a dead upstream and a `grpc-timeout` become
//! trailers-only gRPC answers as Envoy sends them. Request trailers reach an HTTP/2 upstream
//! after the body a plugin held; HTTP/1 trailers are dropped, as Envoy's HTTP/1 codec does.

use crate::common::{self, run_python, Config, PythonServer};

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use wasmgate_testkit::examples::fixture;

const SERVER: &str = include_str!("python/grpc_server.py");
const CLIENT: &str = include_str!("python/grpc_client.py");

/// A gateway in front of the grpcio server, `trailer-probe` on every request; `route` lines
/// go under the route.
fn grpc_gateway(tag: &str, server: SocketAddr, route: &[&str]) -> common::Running {
    let dir = common::tempdir(tag);
    let config = Config::new()
        .setting("workers: 1")
        .cluster("grpc", server, &["protocol: http2"])
        .route("r", "grpc", route)
        .plugin("probe", fixture("trailer-probe"), &[]);
    common::start(&config, &dir)
}

/// One call of the Python client: `method` of `test.Echo` with `metadata` (`key=value`).
fn call(gateway: SocketAddr, method: &str, metadata: &[&str]) -> Value {
    let target = gateway.to_string();
    let mut args = vec![target.as_str(), method];
    args.extend_from_slice(metadata);
    let out = run_python(CLIENT, &args);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_unary_call_gets_its_answer_metadata_and_trailers_through_every_phase() {
    let server = PythonServer::start(SERVER, &[]);
    let gateway = grpc_gateway("grpc-unary", server.address, &[]);

    let answer = call(gateway.address, "Unary", &[]);
    assert_eq!(answer["code"], "OK", "{answer}");
    assert_eq!(answer["responses"][0], "echo:hi", "{answer}");
    // The plugin saw `te: trailers` in the request headers and told the server.
    assert_eq!(answer["initial"]["x-saw-probe-te"], "trailers", "{answer}");
    assert_eq!(
        answer["initial"]["x-probe-phases"], "reqh(eos=0) reqb(bytes=7,eos=1) resh(eos=0)",
        "{answer}"
    );
    // The server's trailers, and the plugin's, which saw the server's status.
    assert_eq!(answer["trailing"]["x-server-trailer"], "yes", "{answer}");
    assert_eq!(answer["trailing"]["x-probe-grpc-status"], "0", "{answer}");
    assert_eq!(
        answer["trailing"]["x-probe-phases"],
        "reqh(eos=0) reqb(bytes=7,eos=1) resh(eos=0) resb(bytes=12,eos=0) rest(n=3)",
        "{answer}"
    );
}

#[test]
fn an_error_status_and_a_stream_pass_through() {
    let server = PythonServer::start(SERVER, &[]);
    let gateway = grpc_gateway("grpc-status", server.address, &[]);

    let failed = call(gateway.address, "Fail", &[]);
    assert_eq!(failed["code"], "NOT_FOUND", "{failed}");
    assert_eq!(failed["details"], "no such thing", "{failed}");

    let chat = call(gateway.address, "Chat", &[]);
    assert_eq!(chat["code"], "OK", "{chat}");
    assert_eq!(
        chat["responses"],
        serde_json::json!(["re:a", "re:b", "re:c"]),
        "{chat}"
    );
}

#[test]
fn a_plugin_changes_the_grpc_status_in_the_response_trailers() {
    let server = PythonServer::start(SERVER, &[]);
    let gateway = grpc_gateway("grpc-change", server.address, &[]);

    let answer = call(gateway.address, "Unary", &["x-set-grpc-status=7"]);
    assert_eq!(answer["code"], "PERMISSION_DENIED", "{answer}");
    assert_eq!(answer["details"], "changed by trailer-probe", "{answer}");
    assert_eq!(answer["trailing"]["x-probe-grpc-status"], "0", "{answer}");
}

#[test]
fn local_replies_to_grpc_requests_are_trailers_only_grpc_answers() {
    let server = PythonServer::start(SERVER, &[]);
    let gateway = grpc_gateway("grpc-reply", server.address, &[]);

    // The HTTP status maps to its gRPC status; the body is the message.
    let denied = call(gateway.address, "Unary", &["x-reply=403"]);
    assert_eq!(denied["code"], "PERMISSION_DENIED", "{denied}");
    assert_eq!(denied["details"], "denied by trailer-probe", "{denied}");
    // Trailers-only: the plugin's headers come as trailing metadata.
    assert_eq!(denied["trailing"]["x-replied"], "trailer-probe", "{denied}");

    // A gRPC status the plugin gives wins.
    let unauthenticated = call(
        gateway.address,
        "Unary",
        &["x-reply=403", "x-reply-grpc=16"],
    );
    assert_eq!(
        unauthenticated["code"], "UNAUTHENTICATED",
        "{unauthenticated}"
    );
}

#[test]
fn a_dead_upstream_is_unavailable() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bound");
    let address = dead.local_addr().expect("an address");
    drop(dead);
    let gateway = grpc_gateway("grpc-dead", address, &[]);

    let answer = call(gateway.address, "Unary", &[]);
    assert_eq!(answer["code"], "UNAVAILABLE", "{answer}");
    let details = answer["details"].as_str().unwrap_or_default();
    assert!(
        details.starts_with("upstream connect error or disconnect/reset before headers"),
        "{answer}"
    );
}

/// A body of the given frames.
struct Frames(VecDeque<Frame<Bytes>>);

impl hyper::body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

/// What an HTTP/2 exchange brought back: status, headers, body and trailers.
#[derive(Debug)]
struct H2Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
    trailers: http::HeaderMap,
}

/// One HTTP/2 (h2c) request to `address` with `headers` and a body of `frames`.
fn h2_exchange(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    frames: Vec<Frame<Bytes>>,
) -> H2Answer {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connected");
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("an HTTP/2 connection");
        tokio::spawn(connection);
        let mut request = http::Request::post(format!("http://test.local{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Frames(frames.into())).expect("a request");
        let response = sender.send_request(request).await.expect("an answer");
        let (parts, body) = response.into_parts();
        let collected = body.collect().await.expect("the body");
        let trailers = collected.trailers().cloned().unwrap_or_default();
        H2Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
            trailers,
        }
    })
}

#[test]
fn grpc_timeout_is_the_upstream_limit_where_the_route_takes_it() {
    let server = PythonServer::start(SERVER, &[]);
    let grpc = [
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("grpc-timeout", "200m"),
    ];
    let message = || vec![Frame::data(Bytes::from_static(b"\0\0\0\0\x02hi"))];

    let capped = grpc_gateway(
        "grpc-timeout",
        server.address,
        &["grpc_timeout_header_max_ms: 0"],
    );
    let answer = h2_exchange(capped.address, "/test.Echo/Slow", &grpc, message());
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer
            .headers
            .get("grpc-status")
            .map(|v| v.to_str().unwrap_or_default()),
        Some("14"),
        "{answer:?}"
    );
    assert_eq!(answer.headers["grpc-message"], "upstream request timeout");
    assert_eq!(answer.headers["content-type"], "application/grpc");
    assert_eq!(answer.body, "");

    // Without `grpc_timeout_header_max` the route's own limit holds and the header only goes
    // on: the server's own deadline answer (trailers-only) comes through the plugin.
    let plain = grpc_gateway("grpc-no-timeout", server.address, &[]);
    let answer = h2_exchange(plain.address, "/test.Echo/Slow", &grpc, message());
    assert_eq!(answer.headers["grpc-status"], "4", "{answer:?}");
    assert_eq!(
        answer.headers["grpc-message"], "Deadline Exceeded",
        "{answer:?}"
    );
    assert_eq!(
        answer.headers["x-probe-phases"],
        "reqh(eos=0) reqb(bytes=7,eos=1) resh(eos=1)"
    );
}

/// An HTTP/2 upstream that answers with what it received: `body=<body> trailers=<k=v;…>`, and
/// a response trailer `x-upstream-trailer: done`.
fn trailer_echo() -> SocketAddr {
    common::accept_in_background(|stream| async move {
        let service = service_fn(|request: http::Request<hyper::body::Incoming>| async move {
            let collected = request.into_body().collect().await?;
            let trailers: Vec<String> = collected
                .trailers()
                .map(|t| {
                    t.iter()
                        .map(|(k, v)| format!("{k}={}", v.to_str().unwrap_or("?")))
                        .collect()
                })
                .unwrap_or_default();
            let text = format!(
                "body={} trailers={}",
                String::from_utf8_lossy(&collected.to_bytes()),
                trailers.join(";")
            );
            let mut done = http::HeaderMap::new();
            done.insert("x-upstream-trailer", http::HeaderValue::from_static("done"));
            let frames = vec![Frame::data(Bytes::from(text)), Frame::trailers(done)];
            Ok::<_, hyper::Error>(http::Response::new(Frames(frames.into())))
        });
        let _ = http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), service)
            .await;
    })
}

fn trailer_gateway(tag: &str) -> common::Running {
    let dir = common::tempdir(tag);
    let config = Config::new()
        .setting("workers: 1")
        .cluster("up", trailer_echo(), &["protocol: http2"])
        .route("r", "up", &[])
        .plugin("probe", fixture("trailer-probe"), &[]);
    common::start(&config, &dir)
}

#[test]
fn request_trailers_reach_the_upstream_after_the_body_a_plugin_held() {
    let gateway = trailer_gateway("trailers-held");
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-client-trailer", http::HeaderValue::from_static("1"));
    let frames = || {
        vec![
            Frame::data(Bytes::from_static(b"hello ")),
            Frame::data(Bytes::from_static(b"world")),
            Frame::trailers(trailers.clone()),
        ]
    };

    // The plugin sees the trailers (and adds one); the body it saw never ended with the data.
    let answer = h2_exchange(gateway.address, "/t", &[], frames());
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        "body=hello world trailers=x-client-trailer=1;x-probe-saw=x-client-trailer=1"
    );
    assert_eq!(answer.trailers["x-upstream-trailer"], "done");
    assert_eq!(answer.trailers["x-probe-grpc-status"], "none");
    assert_eq!(
        answer.trailers["x-probe-phases"],
        "reqh(eos=0) reqb(bytes=11,eos=0) reqt(n=1) resh(eos=0) resb(bytes=75,eos=0) rest(n=1)"
    );

    // Held until the trailers, the body goes on with them, as the plugin changed it.
    let answer = h2_exchange(gateway.address, "/t", &[("x-hold-body", "1")], frames());
    assert_eq!(
        answer.body,
        "body=held:hello world trailers=x-client-trailer=1;x-probe-saw=x-client-trailer=1"
    );
}

#[test]
fn http1_trailers_are_dropped_as_envoy_does() {
    use std::io::{Read, Write};
    let gateway = trailer_gateway("trailers-h1");
    let mut stream = std::net::TcpStream::connect(gateway.address).expect("connected");
    stream
        .write_all(
            b"POST /t HTTP/1.1\r\nhost: test.local\r\ntransfer-encoding: chunked\r\nte: trailers\r\n\
              connection: close\r\n\r\n5\r\nhello\r\n0\r\nx-client-trailer: 1\r\n\r\n",
        )
        .expect("sent");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // No trailers upstream; the plugin's body phase saw the end; no trailers to the client.
    assert!(answer.contains("body=hello trailers=\r\n"), "{answer}");
    assert!(
        answer.contains("reqh(eos=0) reqb(bytes=5,eos=1) resh(eos=0)"),
        "{answer}"
    );
    assert!(!answer.contains("x-upstream-trailer"), "{answer}");
}
