//! Micro-benchmarks of the host: what wasmgate itself adds to one HTTP request, measured
//! in-process with criterion (no network, no gateway). See `docs/benchmarks.md`.
//!
//! - `request/minimal_plugin`: one request (headers in and out, no body) through the
//!   `minimal` Rust example plugin, stream creation to `proxy_on_delete`.
//! - `codec/encode_pairs`, `codec/decode_pairs`: the header-map wire format, 10 headers.
//! - `property/request_path`, `property/request_headers_user_agent`: `properties::resolve`.
//! - `callout/round_trip`: a request through the `http-call` example plugin, which pauses
//!   on an HTTP callout that is then answered and the stream resumed.
//!
//! The plugins are read from `<repo>/target/plugins/rust/<name>.wasm`; when one is missing
//! the bench builds them with `scripts/build-rust-plugins.sh` first.
//!
//! Run: `cargo bench -p wasmgate-host --bench request`
//! (short run: `... -- --warm-up-time 1 --measurement-time 3`).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use criterion::{criterion_group, criterion_main, Criterion};
use wasmgate_host::abi::{pairs, Status};
use wasmgate_host::properties::{self, PropertyScope};
use wasmgate_host::stream::{HttpStream, MapScope};
use wasmgate_host::{
    CalloutHandler, GrpcCallout, GrpcStreamOpen, HeaderMap, HttpCallout, HttpCalloutResponse,
    NoCallouts, PhaseOutcome, PluginModule, PluginVm, RedisCallout, RedisInit, Runtime,
    RuntimeConfig, StreamInfo, StreamSignal, VmConfig,
};

/// The repository root (this crate is `<repo>/crates/host`).
fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize()
        .unwrap_or_else(|e| panic!("cannot resolve the repository root {}: {e}", root.display()))
}

/// The path of a Rust example plugin, building the examples once if it is missing.
fn plugin_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let root = repo_root();
    let out_dir = root.join("target/plugins/rust");
    let path = out_dir.join(format!("{name}.wasm"));
    if !path.is_file() {
        BUILT.get_or_init(|| build_plugins(&root, &out_dir));
    }
    assert!(
        path.is_file(),
        "plugin {} is still missing after running scripts/build-rust-plugins.sh",
        path.display()
    );
    path
}

fn build_plugins(root: &Path, out_dir: &Path) {
    let script = root.join("scripts/build-rust-plugins.sh");
    eprintln!(
        "building the Rust example plugins: bash {} {}",
        script.display(),
        out_dir.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .arg(out_dir)
        .current_dir(root)
        // Keep criterion's stdout readable: the script's listing goes to stderr.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        status.success(),
        "building the Rust example plugins failed ({status}); run `bash scripts/build-rust-plugins.sh \
         target/plugins/rust` in {} to see why (it needs the wasm32-wasip1 target)",
        root.display()
    );
}

fn runtime() -> Runtime {
    // No on-disk module cache: the bench compiles its plugins itself and leaves no files.
    Runtime::new(RuntimeConfig {
        cache_dir: None,
        ..RuntimeConfig::default()
    })
    .expect("wasmtime engine")
}

fn vm(
    runtime: &Runtime,
    plugin: &str,
    config: &str,
    callouts: Box<dyn CalloutHandler + Send>,
) -> PluginVm {
    let module = PluginModule::from_file(runtime, &plugin_path(plugin))
        .unwrap_or_else(|e| panic!("cannot load plugin {plugin}: {e}"));
    PluginVm::new(&module, VmConfig::new(plugin, config), callouts)
        .unwrap_or_else(|e| panic!("cannot start plugin {plugin}: {e}"))
}

fn request_headers() -> HeaderMap {
    HeaderMap::from_pairs(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", "example.com"),
        (":path", "/api/v1/items?x=1"),
        ("user-agent", "curl/8.5.0"),
        ("accept", "*/*"),
        ("x-request-id", "5f0c7b2e-9a41-4d7e-8f3a-2b6c1d0e9f84"),
    ])
}

fn response_headers() -> HeaderMap {
    HeaderMap::from_pairs(&[
        (":status", "200"),
        ("content-type", "application/json"),
        ("content-length", "1234"),
        ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("server", "upstream"),
    ])
}

fn stream_info() -> StreamInfo {
    StreamInfo {
        route_name: Some("bench-route".into()),
        cluster_name: Some("outbound|80||example.com".into()),
        source_address: Some("10.0.0.1:51234".into()),
        destination_address: Some("10.0.0.2:8080".into()),
        connection_id: 7,
        protocol: Some("HTTP/1.1".into()),
        ..StreamInfo::default()
    }
}

/// One request through a plugin that continues in both header phases. The header maps are
/// moved into the stream and back out, as the gateway does, so the harness adds no copies;
/// the header the plugin adds is dropped again afterwards.
fn minimal_request(
    vm: &mut PluginVm,
    info: &StreamInfo,
    req: &mut HeaderMap,
    resp: &mut HeaderMap,
) -> PhaseOutcome {
    let (req_len, resp_len) = (req.len(), resp.len());
    let id = vm.create_stream(info.clone()).unwrap();
    std::mem::swap(&mut vm.stream_mut(id).unwrap().request_headers, req);
    let request = vm.on_request_headers(id, true).unwrap();
    std::mem::swap(&mut vm.stream_mut(id).unwrap().response_headers, resp);
    let response = vm.on_response_headers(id, true).unwrap();
    let stream = vm.stream_mut(id).unwrap();
    std::mem::swap(&mut stream.request_headers, req);
    std::mem::swap(&mut stream.response_headers, resp);
    vm.finish_stream(id).unwrap();
    req.pairs.truncate(req_len);
    resp.pairs.truncate(resp_len);
    black_box(request);
    response
}

fn bench_request(c: &mut Criterion) {
    let runtime = runtime();
    let mut minimal = vm(&runtime, "minimal", "", Box::new(NoCallouts));
    let (info, mut req, mut resp) = (stream_info(), request_headers(), response_headers());

    // Check once, outside the measurement, that the plugin does what the bench assumes.
    let id = minimal.create_stream(info.clone()).unwrap();
    minimal.stream_mut(id).unwrap().request_headers = req.clone();
    assert_eq!(
        minimal.on_request_headers(id, true).unwrap(),
        PhaseOutcome::Continue
    );
    minimal.stream_mut(id).unwrap().response_headers = resp.clone();
    assert_eq!(
        minimal.on_response_headers(id, true).unwrap(),
        PhaseOutcome::Continue
    );
    let stream = minimal.stream(id).unwrap();
    assert_eq!(stream.request_headers.get_str("x-minimal"), Some("1"));
    assert_eq!(stream.response_headers.get_str("x-minimal"), Some("1"));
    minimal.finish_stream(id).unwrap();

    let mut sdk = vm(
        &runtime,
        "sdk-hello",
        r#"{"mockEnable": false}"#,
        Box::new(NoCallouts),
    );
    assert_eq!(
        minimal_request(&mut sdk, &info, &mut req, &mut resp),
        PhaseOutcome::Continue
    );

    let mut group = c.benchmark_group("request");
    group.bench_function("minimal_plugin", |b| {
        b.iter(|| minimal_request(&mut minimal, &info, &mut req, &mut resp))
    });
    group.bench_function("sdk_hello", |b| {
        b.iter(|| minimal_request(&mut sdk, &info, &mut req, &mut resp))
    });
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

/// Takes every HTTP callout and keeps the last one for the bench to answer.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Option<HttpCallout>>>);

impl CalloutHandler for Recorder {
    fn http_call(&mut self, call: HttpCallout) -> Result<(), Status> {
        *self.0.lock().unwrap() = Some(call);
        Ok(())
    }

    fn redis_init(&mut self, _init: RedisInit) -> Status {
        Status::BadArgument
    }

    fn redis_call(&mut self, _call: RedisCallout) -> Result<(), Status> {
        Err(Status::BadArgument)
    }

    fn grpc_call(&mut self, _call: GrpcCallout) -> Result<(), Status> {
        Err(Status::BadArgument)
    }

    fn grpc_stream(&mut self, _open: GrpcStreamOpen) -> Result<(), Status> {
        Err(Status::BadArgument)
    }

    fn grpc_send(&mut self, _token: u32, _message: Vec<u8>, _end_of_stream: bool) {}

    fn grpc_close(&mut self, _token: u32) {}

    fn grpc_cancel(&mut self, _token: u32) {}
}

/// One request that pauses on a callout, gets its answer and resumes.
fn callout_request(
    vm: &mut PluginVm,
    calls: &Recorder,
    info: &StreamInfo,
    req: &HeaderMap,
) -> Option<StreamSignal> {
    let id = vm.create_stream(info.clone()).unwrap();
    vm.stream_mut(id).unwrap().request_headers = req.clone();
    black_box(vm.on_request_headers(id, true).unwrap());
    let call = calls
        .0
        .lock()
        .unwrap()
        .take()
        .expect("the plugin made no callout");
    let answer = HttpCalloutResponse::new(200, &[("x-token", "abc")], "");
    vm.on_http_call_response(call.token, Some(answer)).unwrap();
    black_box(vm.take_signaled());
    let signal = vm.take_signal(id);
    vm.finish_stream(id).unwrap();
    signal
}

fn bench_callout(c: &mut Criterion) {
    let runtime = runtime();
    let calls = Recorder::default();
    let mut vm = vm(&runtime, "http-call", "{}", Box::new(calls.clone()));
    let (info, req) = (stream_info(), request_headers());

    // Check once that the plugin calls out, pauses, and resumes with the token set.
    let id = vm.create_stream(info.clone()).unwrap();
    vm.stream_mut(id).unwrap().request_headers = req.clone();
    let paused = vm.on_request_headers(id, true).unwrap();
    assert!(
        matches!(paused, PhaseOutcome::Pause { .. }),
        "expected a pause, got {paused:?}"
    );
    let call = calls
        .0
        .lock()
        .unwrap()
        .take()
        .expect("the plugin made no callout");
    assert_eq!(call.upstream, "outbound|8080||auth.dns");
    assert_eq!(call.context_id, id);
    let answer = HttpCalloutResponse::new(200, &[("x-token", "abc")], "");
    vm.on_http_call_response(call.token, Some(answer)).unwrap();
    assert_eq!(vm.take_signaled(), vec![id]);
    assert_eq!(vm.take_signal(id), Some(StreamSignal::ResumeRequest));
    assert_eq!(
        vm.stream(id).unwrap().request_headers.get_str("x-token"),
        Some("abc")
    );
    vm.finish_stream(id).unwrap();

    let mut group = c.benchmark_group("callout");
    group.bench_function("round_trip", |b| {
        b.iter(|| callout_request(&mut vm, &calls, &info, &req))
    });
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
