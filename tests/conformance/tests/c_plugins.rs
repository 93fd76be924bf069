//! The C plugin written for the suite (`c/root-probe.c`, clang for wasm32-wasi, `0_2_100`
//! marker): it picks its root context by `plugin_root_id` as the proxy-wasm C++ SDK does,
//! keeps its configuration, buffers both bodies to their end (StopIterationAndBuffer),
//! changes the response headers and body, and answers `/deny…` with a local reply.

use wasmgate_conformance::{edge_requests, stress_requests, Case, Plugin, Request};

#[test]
fn root_probe() {
    let mut requests = edge_requests(&[]);
    requests.extend(stress_requests(&[], false));
    requests.push(Request::get("/deny/this"));
    requests.push(Request::new("POST", "/deny").body("a body"));
    Case::new(
        "c/root-probe",
        vec![Plugin::conformance_c("root-probe", r#"{"tag":"alpha"}"#)],
        requests,
    )
    .check();
}
