//! wasmgate-sdk's gRPC client through the `grpc-authz` fixture in the test kit: a unary call
//! pauses the request and its answer (or failure status) reaches the callback in the
//! request's context; a request's stream sends its messages and half-close and holds the
//! request until the close; a cancelled stream gets nothing more.

use wasmgate_testkit::examples::fixture;
use wasmgate_testkit::{GrpcCode, GrpcEvent, GrpcMove, HeaderMap, LogLevel, StreamState, TestHost};

fn authz(clusters: Option<&[&str]>) -> TestHost {
    let mut builder = TestHost::builder(fixture("grpc-authz"))
        .config_json(r#"{"cluster": "grpc", "timeout_ms": 300}"#);
    if let Some(clusters) = clusters {
        builder = builder.clusters(clusters);
    }
    builder.start().expect("plugin starts")
}

fn reply(state: &StreamState) -> (u32, String, Option<String>) {
    match state {
        StreamState::Replied(r) => (
            r.status,
            String::from_utf8_lossy(&r.body).into_owned(),
            r.headers.get_str("x-grpc-status").map(str::to_string),
        ),
        other => panic!("expected a local reply, got {other:?}"),
    }
}

#[test]
fn a_unary_call_pauses_the_request_and_its_answer_resumes_it() {
    let mut host = authz(None);
    let state = host.request_headers(&[(":path", "/hello")], true).unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    let calls = host.grpc_calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.target.cluster, "grpc");
    assert_eq!(
        call.target.authority, "grpc",
        "the cluster name, as Envoy's"
    );
    assert_eq!(call.target.path(), "/test.Echo/Unary");
    assert_eq!(call.message, b"/hello");
    assert_eq!(call.timeout_ms, 300);
    assert_eq!(
        call.target.initial_metadata.get_str("x-probe-te"),
        Some("from-plugin")
    );
    let state = host.answer_grpc(call.token, b"echo:/hello").unwrap();
    assert_eq!(state, StreamState::Running, "resumed by the SDK");
    assert_eq!(
        host.request_header("x-authz").as_deref(),
        Some("echo:/hello")
    );
}

#[test]
fn a_failure_status_and_an_ok_without_a_message_reach_the_callback_as_errors() {
    let mut host = authz(None);
    host.request_headers(&[(":path", "/x")], true).unwrap();
    let token = host.grpc_calls()[0].token;
    let state = host
        .answer_grpc_status(token, GrpcCode::NotFound, "no such thing")
        .unwrap();
    assert_eq!(
        reply(&state),
        (403, "no such thing".into(), Some("5".into()))
    );

    // OK with no message is INTERNAL for a unary call, as in Envoy.
    let mut host = authz(None);
    host.request_headers(&[(":path", "/x")], true).unwrap();
    let token = host.grpc_calls()[0].token;
    let state = host.answer_grpc_status(token, GrpcCode::Ok, "").unwrap();
    assert_eq!(reply(&state), (403, String::new(), Some("13".into())));
}

#[test]
fn a_call_to_an_unknown_cluster_fails_at_once() {
    let mut host = authz(Some(&["other"]));
    let state = host.request_headers(&[(":path", "/x")], true).unwrap();
    let (status, body, _) = reply(&state);
    assert_eq!(status, 500);
    assert!(body.contains("ParseFailure"), "{body}");
    assert!(host.grpc_calls().is_empty());
}

#[test]
fn a_request_stream_sends_its_messages_and_waits_for_the_close() {
    let mut host = authz(None);
    let state = host
        .request_headers(&[(":path", "/stream"), ("x-messages", "a,b")], true)
        .unwrap();
    assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    let streams = host.grpc_streams();
    assert_eq!(streams.len(), 1);
    let token = streams[0].token;
    assert_eq!(streams[0].target.path(), "/test.Echo/Chat");
    assert_eq!(
        host.grpc_moves(token),
        [
            GrpcMove::Send(b"a".to_vec(), false),
            GrpcMove::Send(b"b".to_vec(), false),
            GrpcMove::Close,
        ]
    );
    host.grpc_event(token, GrpcEvent::InitialMetadata(HeaderMap::new()))
        .unwrap();
    for message in [&b"re:a"[..], b"re:b"] {
        let state = host
            .grpc_event(token, GrpcEvent::Message(message.to_vec()))
            .unwrap();
        assert!(matches!(state, StreamState::Paused(_)), "{state:?}");
    }
    let state = host.answer_grpc_status(token, GrpcCode::Ok, "").unwrap();
    assert_eq!(reply(&state), (200, "re:a,re:b".into(), Some("0".into())));
}

#[test]
fn a_cancelled_stream_gets_nothing_more() {
    let mut host = authz(None);
    let state = host.request_headers(&[(":path", "/cancel")], true).unwrap();
    assert_eq!(state, StreamState::Running);
    let token = host.grpc_streams()[0].token;
    assert_eq!(
        host.grpc_moves(token),
        [GrpcMove::Send(b"one".to_vec(), false), GrpcMove::Cancel]
    );
    host.grpc_event(token, GrpcEvent::Message(b"late".to_vec()))
        .unwrap();
    host.answer_grpc_status(token, GrpcCode::Ok, "").unwrap();
    let warnings = host.log_messages(LogLevel::Warn);
    assert!(
        !warnings.iter().any(|w| w.contains("after cancel")),
        "{warnings:?}"
    );
}
