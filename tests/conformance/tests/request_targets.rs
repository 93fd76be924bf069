//! Request heads at the edge of what HTTP/1.1 allows, against Envoy: `OPTIONS *` (the
//! asterisk form: 404 with no body, before any plugin) and two `Host` headers (Envoy joins
//! them with `,` into `:authority` and serves the request).

use wasmgate_conformance::{Case, Plugin, Request};

#[test]
fn asterisk_form_and_two_hosts() {
    Case::new(
        "edge: OPTIONS *, two Host headers",
        vec![Plugin::example(
            wasmgate_conformance::Lang::Rust,
            "minimal",
            "",
        )],
        vec![
            Request::new("OPTIONS", "*"),
            Request::get("/").header("host", "other.test"),
            Request::get("/"),
        ],
    )
    .check();
}
