//! Micro-benchmarks of the host: what wasmgate itself adds to one HTTP request, measured
//! in-process with criterion (no network, no gateway). See `docs/benchmarks.md`.
//!
//! - `request/minimal_plugin`, `request/sdk_hello`, `request/go_hello`: one request
//!   (headers in and out, no body) through the `minimal` Rust plugin, the `sdk-hello`
//!   wasmgate-sdk plugin and the Go `hello` (wasm-go) plugin, stream creation to
//!   `proxy_on_delete`.
//! - `codec/encode_pairs`, `codec/decode_pairs`: the header-map wire format, 10 headers.
//! - `property/request_path`, `property/request_headers_user_agent`: `properties::resolve`.
//! - `callout/round_trip`: a request through the `http-call` example plugin, which pauses
//!   on an HTTP callout that is then answered and the stream resumed.
//!
//! The cases are in `common` (shared with `counts.rs`, their instruction counts).
//!
//! Run: `cargo bench -p wasmgate-host --bench request`
//! (short run: `... -- --warm-up-time 1 --measurement-time 3`).

mod common;

use std::hint::black_box;

use common::{request_headers, response_headers, runtime, stream_info, CalloutCase, HeaderCase};
use criterion::{criterion_group, criterion_main, Criterion};
use wasmgate_host::abi::pairs;
use wasmgate_host::properties::{self, PropertyScope};
use wasmgate_host::stream::{HttpStream, MapScope};

fn bench_request(c: &mut Criterion) {
    // No on-disk module cache: the bench compiles its plugins itself and leaves no files.
    let runtime = runtime(None);
    let mut group = c.benchmark_group("request");
    for (name, lang, plugin, config, added) in common::HEADER_CASES {
        let mut case = HeaderCase::new(&runtime, lang, plugin, config, added);
        group.bench_function(name, |b| b.iter(|| case.run()));
    }
    group.finish();
}

fn bench_codec(c: &mut Criterion) {
    let mut map = request_headers();
    map.add(b"accept-encoding", b"gzip, deflate, br");
    map.add(b"accept-language", b"en-US,en;q=0.9");
    map.add(b"cookie", b"session=0123456789abcdef; theme=dark");
    assert_eq!(map.len(), 10);
    let encoded = pairs::encode(&map.pairs);
    assert_eq!(pairs::decode(&encoded).unwrap(), map.pairs);

    let mut group = c.benchmark_group("codec");
    group.bench_function("encode_pairs", |b| {
        b.iter(|| pairs::encode(black_box(&map.pairs)))
    });
    group.bench_function("decode_pairs", |b| {
        b.iter(|| pairs::decode(black_box(&encoded)).unwrap())
    });
    group.finish();
}

fn bench_property(c: &mut Criterion) {
    // As in the request-headers phase: the request headers are the plugin's.
    let stream = HttpStream {
        request_headers: request_headers(),
        response_headers: response_headers(),
        info: stream_info(),
        maps: MapScope {
            request_headers: true,
            ..MapScope::default()
        },
        ..HttpStream::default()
    };
    let scope = PropertyScope {
        stream: Some(&stream),
        plugin_name: "bench",
        root_id: "",
        vm_id: "",
        vm_memory: 1 << 20,
    };
    let path: &[&[u8]] = &[b"request", b"path"];
    let user_agent: &[&[u8]] = &[b"request", b"headers", b"user-agent"];
    assert_eq!(
        properties::resolve(&scope, path).as_deref(),
        Some(&b"/api/v1/items?x=1"[..])
    );
    assert_eq!(
        properties::resolve(&scope, user_agent).as_deref(),
        Some(&b"curl/8.5.0"[..])
    );

    let mut group = c.benchmark_group("property");
    group.bench_function("request_path", |b| {
        b.iter(|| properties::resolve(black_box(&scope), black_box(path)))
    });
    group.bench_function("request_headers_user_agent", |b| {
        b.iter(|| properties::resolve(black_box(&scope), black_box(user_agent)))
    });
    group.finish();
}

fn bench_callout(c: &mut Criterion) {
    let runtime = runtime(None);
    let mut case = CalloutCase::new(&runtime);
    let mut group = c.benchmark_group("callout");
    group.bench_function("round_trip", |b| b.iter(|| case.run()));
    group.finish();
}

criterion_group!(
    benches,
    bench_request,
    bench_codec,
    bench_property,
    bench_callout
);
criterion_main!(benches);
