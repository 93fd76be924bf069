//! What the host's benchmarks share: the plugins they load (built when missing), the request
//! they send, and one iteration of each case. `request.rs` times the cases with criterion;
//! `counts.rs` counts their instructions with callgrind.
//!
//! Plugins come from `$WASMGATE_PLUGIN_DIR/<lang>/<name>.wasm`, else
//! `<repo>/target/plugins/<lang>/<name>.wasm`; a missing Rust plugin is built with
//! `scripts/build-rust-plugins.sh`, a missing Go one with `scripts/build-go-plugins.sh`.

#![allow(dead_code)] // each bench binary uses its own part of this module

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use wasmgate_host::abi::Status;
use wasmgate_host::block_on;
use wasmgate_host::{
    CalloutHandler, GrpcCallout, GrpcStreamOpen, HeaderMap, HttpCallout, HttpCalloutResponse,
    NoCallouts, PhaseOutcome, PluginModule, PluginVm, RedisCallout, RedisInit, Runtime,
    RuntimeConfig, StreamInfo, StreamSignal, VmConfig,
};

/// The repository root (this crate is `<repo>/crates/host`).
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize()
        .unwrap_or_else(|e| panic!("cannot resolve the repository root {}: {e}", root.display()))
}

/// The language a plugin is written in: the folder under the plugin directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Go,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Go => "go",
        }
    }
}

fn plugin_root() -> PathBuf {
    std::env::var_os("WASMGATE_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/plugins"))
}

/// The path of a plugin, building the plugins of its language if it is missing.
pub fn plugin_path(lang: Lang, name: &str) -> PathBuf {
    let out_dir = plugin_root().join(lang.dir());
    let path = out_dir.join(format!("{name}.wasm"));
    if !path.is_file() {
        build_plugins(lang, name, &out_dir);
    }
    assert!(
        path.is_file(),
        "plugin {} is still missing after building it",
        path.display()
    );
    path
}

fn build_plugins(lang: Lang, name: &str, out_dir: &Path) {
    let root = repo_root();
    let mut command = Command::new("bash");
    match lang {
        Lang::Rust => command
            .arg(root.join("scripts/build-rust-plugins.sh"))
            .arg(out_dir),
        Lang::Go => command
            .arg(root.join("scripts/build-go-plugins.sh"))
            .arg(out_dir)
            .arg(name),
    };
    eprintln!("building the {} plugins: {command:?}", lang.dir());
    let status = command
        .current_dir(&root)
        // Keep the bench's stdout readable: the scripts' listings go to stderr.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        status.success(),
        "building the plugins failed ({status}); run {command:?} in {} to see why (Rust \
         plugins need the wasm32-wasip1 target, Go ones Go 1.24)",
        root.display()
    );
}

/// A runtime with the compiled-module cache in `cache_dir` (`None`: no cache) that compiles
/// optimized code before a plugin starts (no baseline code first).
pub fn runtime(cache_dir: Option<PathBuf>) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir,
        quick_start: false,
        ..RuntimeConfig::default()
    })
    .expect("wasmtime engine")
}

/// A started VM of a plugin.
pub fn vm(
    runtime: &Runtime,
    lang: Lang,
    plugin: &str,
    config: &str,
    callouts: Box<dyn CalloutHandler + Send>,
) -> PluginVm {
    let module = PluginModule::from_file(runtime, &plugin_path(lang, plugin))
        .unwrap_or_else(|e| panic!("cannot load plugin {plugin}: {e}"));
    PluginVm::new(&module, VmConfig::new(plugin, config), callouts)
        .unwrap_or_else(|e| panic!("cannot start plugin {plugin}: {e}"))
}

pub fn request_headers() -> HeaderMap {
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

pub fn response_headers() -> HeaderMap {
    HeaderMap::from_pairs(&[
        (":status", "200"),
        ("content-type", "application/json"),
        ("content-length", "1234"),
        ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("server", "upstream"),
    ])
}

pub fn stream_info() -> StreamInfo {
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

/// A VM with the request and response a header-only case sends through it.
pub struct HeaderCase {
    pub vm: PluginVm,
    pub info: StreamInfo,
    pub req: HeaderMap,
    pub resp: HeaderMap,
}

impl HeaderCase {
    /// `plugin` started with `config`, checked once: both header phases continue, and the
    /// request leaves with `added` (`(name, value)`) when given.
    pub fn new(
        runtime: &Runtime,
        lang: Lang,
        plugin: &str,
        config: &str,
        added: Option<(&str, &str)>,
    ) -> Self {
        let mut case = HeaderCase {
            vm: vm(runtime, lang, plugin, config, Box::new(NoCallouts)),
            info: stream_info(),
            req: request_headers(),
            resp: response_headers(),
        };
        let id = block_on(case.vm.create_stream(case.info.clone())).unwrap();
        case.vm.stream_mut(id).unwrap().request_headers = case.req.clone();
        let request = block_on(case.vm.on_request_headers(id, true)).unwrap();
        assert_eq!(request, PhaseOutcome::Continue, "{plugin}: request headers");
        case.vm.stream_mut(id).unwrap().response_headers = case.resp.clone();
        let response = block_on(case.vm.on_response_headers(id, true)).unwrap();
        assert_eq!(
            response,
            PhaseOutcome::Continue,
            "{plugin}: response headers"
        );
        if let Some((name, value)) = added {
            let stream = case.vm.stream(id).unwrap();
            assert_eq!(
                stream.request_headers.get_str(name),
                Some(value),
                "{plugin}: the request header it adds"
            );
        }
        block_on(case.vm.finish_stream(id)).unwrap();
        case
    }

    /// One request through the plugin.
    pub fn run(&mut self) -> PhaseOutcome {
        header_request(&mut self.vm, &self.info, &mut self.req, &mut self.resp)
    }
}

/// One request through a plugin that continues in both header phases, as the gateway walks
/// it: the stream is created, the request headers handed in and phased, the response headers
/// handed in and phased (with end of stream: no body), and the stream finished (`on_log`,
/// `on_done`, `on_delete`). The header maps are moved into the stream and back out, as the
/// gateway does, so the harness adds no copies; the headers the plugin added are dropped.
pub fn header_request(
    vm: &mut PluginVm,
    info: &StreamInfo,
    req: &mut HeaderMap,
    resp: &mut HeaderMap,
) -> PhaseOutcome {
    let (req_len, resp_len) = (req.len(), resp.len());
    let id = block_on(vm.create_stream(info.clone())).unwrap();
    std::mem::swap(&mut vm.stream_mut(id).unwrap().request_headers, req);
    let request = block_on(vm.on_request_headers(id, true)).unwrap();
    std::mem::swap(&mut vm.stream_mut(id).unwrap().response_headers, resp);
    let response = block_on(vm.on_response_headers(id, true)).unwrap();
    let stream = vm.stream_mut(id).unwrap();
    std::mem::swap(&mut stream.request_headers, req);
    std::mem::swap(&mut stream.response_headers, resp);
    block_on(vm.finish_stream(id)).unwrap();
    req.pairs.truncate(req_len);
    resp.pairs.truncate(resp_len);
    black_box(request);
    response
}

/// Takes every HTTP callout and keeps the last one for the bench to answer.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Option<HttpCallout>>>);

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

/// The `http-call` plugin with the request it pauses on a callout.
pub struct CalloutCase {
    pub vm: PluginVm,
    pub calls: Recorder,
    pub info: StreamInfo,
    pub req: HeaderMap,
}

impl CalloutCase {
    /// The plugin started and checked once: it calls out, pauses, and resumes with the
    /// token set.
    pub fn new(runtime: &Runtime) -> Self {
        let calls = Recorder::default();
        let mut vm = vm(
            runtime,
            Lang::Rust,
            "http-call",
            "{}",
            Box::new(calls.clone()),
        );
        let (info, req) = (stream_info(), request_headers());
        let id = block_on(vm.create_stream(info.clone())).unwrap();
        vm.stream_mut(id).unwrap().request_headers = req.clone();
        let paused = block_on(vm.on_request_headers(id, true)).unwrap();
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
        block_on(vm.on_http_call_response(call.token, Some(answer))).unwrap();
        assert_eq!(vm.take_signaled(), vec![id]);
        assert_eq!(vm.take_signal(id), Some(StreamSignal::ResumeRequest));
        assert_eq!(
            vm.stream(id).unwrap().request_headers.get_str("x-token"),
            Some("abc")
        );
        block_on(vm.finish_stream(id)).unwrap();
        CalloutCase {
            vm,
            calls,
            info,
            req,
        }
    }

    /// One request that pauses on a callout, gets its answer and resumes.
    pub fn run(&mut self) -> Option<StreamSignal> {
        let vm = &mut self.vm;
        let id = block_on(vm.create_stream(self.info.clone())).unwrap();
        vm.stream_mut(id).unwrap().request_headers = self.req.clone();
        black_box(block_on(vm.on_request_headers(id, true)).unwrap());
        let call = self
            .calls
            .0
            .lock()
            .unwrap()
            .take()
            .expect("the plugin made no callout");
        let answer = HttpCalloutResponse::new(200, &[("x-token", "abc")], "");
        block_on(vm.on_http_call_response(call.token, Some(answer))).unwrap();
        black_box(vm.take_signaled());
        let signal = vm.take_signal(id);
        block_on(vm.finish_stream(id)).unwrap();
        signal
    }
}

/// A header-only case: its name, the plugin's language, name and config, and the request
/// header it adds.
pub type HeaderSpec = (
    &'static str,
    Lang,
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

/// The header-only cases both benches run.
pub const HEADER_CASES: [HeaderSpec; 3] = [
    (
        "minimal_plugin",
        Lang::Rust,
        "minimal",
        "",
        Some(("x-minimal", "1")),
    ),
    (
        "sdk_hello",
        Lang::Rust,
        "sdk-hello",
        r#"{"mockEnable": false}"#,
        Some(("hello", "world")),
    ),
    (
        "go_hello",
        Lang::Go,
        "hello",
        r#"{"mockEnable": false}"#,
        Some(("hello", "world")),
    ),
];
