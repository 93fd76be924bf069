//! wasmgate-sdk's trailer phases and gRPC local replies (`tests/plugins/sdk-probe`): a
//! whole-body handler waiting for the end runs when the trailers end the message, then the
//! trailers handler, which reads and changes them.

use crate::common::{replied, start};
use wasmgate_testkit::{Phase, StreamState, TestHost};

fn probe() -> TestHost {
    start("sdk-probe", r#"{"name": "g"}"#)
}

fn text(map: &wasmgate_testkit::HeaderMap, name: &str) -> Option<String> {
    map.get(name.as_bytes())
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

#[test]
fn trailers_end_a_buffered_body_then_reach_their_handler() {
    let mut host = probe();
    host.request_headers(&[(":path", "/buffered"), (":method", "POST")], false)
        .unwrap();
    let state = host.request_body(b"12345", false).unwrap();
    assert_eq!(state, StreamState::Paused(Phase::RequestBody));

    let state = host.request_trailers(&[("x-client", "1")]).unwrap();
    assert_eq!(state, StreamState::Running);
    // The body handler saw the whole body when the trailers came.
    assert_eq!(host.request_body_bytes(), b"buffered:5");
    let trailers = host.request_trailer_map();
    assert_eq!(
        text(&trailers, "x-probe-trailers").as_deref(),
        Some("x-client=1")
    );
    assert_eq!(
        text(&trailers, "x-trailer-phase").as_deref(),
        Some("RequestTrailers")
    );
}

#[test]
fn a_streamed_body_is_not_handled_twice_by_the_trailers() {
    let mut host = probe();
    host.request_headers(&[(":path", "/s"), (":method", "POST")], false)
        .unwrap();
    host.request_body(b"ab", false).unwrap();
    let state = host.request_trailers(&[("x-client", "1")]).unwrap();
    assert_eq!(state, StreamState::Running);
    // Streaming upper-cased the chunk; it never saw an end, and nothing ran it again.
    assert_eq!(host.request_body_bytes(), b"AB");
}

#[test]
fn response_trailers_handler_changes_the_grpc_message() {
    let mut host = probe();
    host.request_headers(&[(":path", "/g")], true).unwrap();
    host.response_headers(&[("content-type", "application/grpc")], false)
        .unwrap();
    let state = host
        .response_trailers(&[("grpc-status", "0"), ("grpc-message", "")])
        .unwrap();
    assert_eq!(state, StreamState::Running);
    let trailers = host.response_trailer_map();
    assert_eq!(
        text(&trailers, "grpc-message").as_deref(),
        Some("checked by sdk-probe")
    );
    host.complete().unwrap();

    host.request_headers(&[(":path", "/g")], true).unwrap();
    host.response_headers(&[("content-type", "application/grpc")], false)
        .unwrap();
    host.response_trailers(&[("grpc-status", "13"), ("grpc-message", "boom")])
        .unwrap();
    let trailers = host.response_trailer_map();
    assert_eq!(text(&trailers, "grpc-message").as_deref(), Some("boom"));
}

#[test]
fn send_grpc_response_gives_the_grpc_status() {
    let mut host = probe();
    let state = host
        .request_headers(&[(":path", "/grpc-reply")], true)
        .unwrap();
    let reply = replied(&state);
    assert_eq!(reply.status, 403);
    assert_eq!(reply.grpc_status, Some(7));
    assert_eq!(reply.body, b"no access");
    assert_eq!(text(&reply.headers, "x-reason").as_deref(), Some("probe"));
}
