//! gRPC callouts (`proxy_grpc_call`, `proxy_grpc_stream`) from the `grpc-authz` fixture on
//! wasmgate-sdk, in both hosts, to the same grpcio server behind an HTTP/2 cluster: an
//! answer, a server error, an unknown method, a timeout, a stream echo, a cancelled stream,
//! and a cluster nobody listens on. The status codes agree (measured: a timeout is 14
//! UNAVAILABLE in Envoy 1.40, its router's 504); the status messages differ by Envoy's
//! appended response code details.

use wasmgate_conformance::{Case, Endpoint, Plugin, Request};

fn authz(cluster: &str) -> Vec<Plugin> {
    let config = format!(r#"{{"cluster": "{cluster}", "timeout_ms": 300}}"#);
    vec![Plugin::fixture("grpc-authz", &config)]
}

/// Envoy appends its response code details in braces to the status message a plugin reads
/// (`proxy_get_status` in `proxy_on_grpc_close`); wasmgate gives the message alone.
const DETAILS_IN_MESSAGE: &str = "Envoy appends the response code details ({via_upstream}, \
    {response_timeout}) to a gRPC callout's status message; wasmgate gives the message alone";

#[test]
fn grpc_calls_and_streams() {
    Case::new(
        "sdk/grpc-authz",
        authz("grpc"),
        vec![
            Request::get("/hello"),
            Request::get("/deny"),
            Request::get("/stream").header("x-messages", "a,b,c"),
            Request::get("/cancel"),
        ],
    )
    .callout_to("grpc", Endpoint::Grpc)
    .check();
}

#[test]
fn grpc_call_failures() {
    // The plugin answers with the status code in `x-grpc-status` (the same in both hosts:
    // 5, 12, 14) and the status message as the body (where they differ).
    Case::new(
        "sdk/grpc-authz (failures)",
        authz("grpc"),
        vec![
            Request::get("/x").header("x-method", "Fail"),
            Request::get("/x").header("x-method", "Nope"),
            Request::get("/x").header("x-method", "Slow"),
        ],
    )
    .callout_to("grpc", Endpoint::Grpc)
    .expect_different(DETAILS_IN_MESSAGE)
    .check();
}

#[test]
fn a_grpc_call_to_a_dead_cluster() {
    Case::new(
        "sdk/grpc-authz (dead cluster)",
        authz("grpc-dead"),
        vec![Request::get("/x")],
    )
    .callout_to("grpc-dead", Endpoint::Refused)
    .expect_different(DETAILS_IN_MESSAGE)
    .check();
}
