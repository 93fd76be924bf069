//! The requests cases share: the usual edge requests, framing stress, an empty body,
//! `expect: 100-continue`.

use crate::client::Request;

/// The usual edge requests: no body, a body, HEAD, a query string, repeated headers,
/// mixed-case header names (with a client's `X-Forwarded-Proto`, which Envoy keeps);
/// `extra` headers go on every one.
pub fn edge_requests(extra: &[(&str, &str)]) -> Vec<Request> {
    let with = |mut r: Request| {
        for (name, value) in extra {
            r = r.header(name, value);
        }
        r
    };
    vec![
        with(Request::get("/")),
        with(Request::new("POST", "/submit").body("hello body")),
        with(Request::new("HEAD", "/")),
        with(Request::get("/search?q=wasm&lang=rust")),
        with(
            Request::get("/")
                .header("x-repeat", "a")
                .header("x-repeat", "b"),
        ),
        with(
            Request::get("/")
                .header("X-Mixed-Case", "Value")
                .header("X-Forwarded-Proto", "https"),
        ),
    ]
}

/// 1 MiB, the size of the big body of [`stress_requests`].
pub const BIG_BODY: usize = 1 << 20;

/// Requests that stress the edges of framing: a chunked body, non-UTF-8 header bytes
/// (`x-bytes: caf\xe9 \xff`); with `big`, also a 1 MiB body (`content-length`) and the
/// same chunked. `extra` headers go on every one. (An empty body and
/// `expect: 100-continue`: [`empty_body_request`], [`continue_request`].)
pub fn stress_requests(extra: &[(&str, &str)], big: bool) -> Vec<Request> {
    let mut requests = vec![
        Request::new("POST", "/chunked")
            .body("hello chunked body")
            .chunked(5),
        Request::get("/bytes").header_bytes("x-bytes", b"caf\xe9 \xff"),
    ];
    if big {
        let body: Vec<u8> = b"0123456789abcdef"
            .iter()
            .copied()
            .cycle()
            .take(BIG_BODY)
            .collect();
        requests.push(Request::new("POST", "/big").body_bytes(body.clone()));
        requests.push(
            Request::new("POST", "/big-chunked")
                .body_bytes(body)
                .chunked(64 << 10),
        );
    }
    with_headers(requests, extra)
}

/// A POST with an empty body (`content-length: 0`).
pub fn empty_body_request(extra: &[(&str, &str)]) -> Vec<Request> {
    with_headers(vec![Request::new("POST", "/empty").body("")], extra)
}

/// A POST with a body and `expect: 100-continue` (the body follows the interim `100`).
pub fn continue_request(extra: &[(&str, &str)]) -> Vec<Request> {
    with_headers(
        vec![Request::new("POST", "/continue")
            .body("after continue")
            .expect_continue()],
        extra,
    )
}

fn with_headers(requests: Vec<Request>, extra: &[(&str, &str)]) -> Vec<Request> {
    requests
        .into_iter()
        .map(|mut r| {
            for (name, value) in extra {
                r = r.header(name, value);
            }
            r
        })
        .collect()
}
