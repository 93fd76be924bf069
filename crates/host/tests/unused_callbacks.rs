//! A plugin that names, at start, the per-request callbacks it does not need
//! (`wasmgate_unused_callbacks`) is not called for them; one that says nothing is called for
//! every phase.

use wasmgate_host::block_on;
use wasmgate_host::{
    NoCallouts, PhaseOutcome, PluginModule, PluginVm, Runtime, RuntimeConfig, StreamInfo, VmConfig,
};

/// With a non-empty configuration the plugin says at configure that it does not need
/// `proxy_on_response_headers` and `proxy_on_log`. Its request-headers callback adds
/// `x-seen: request`, its response-headers callback `x-seen: response`, and its
/// `proxy_on_log` traps.
const PLUGIN: &str = r#"
(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_call_foreign_function"
    (func $foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "x-seen")
  (data (i32.const 32) "request")
  (data (i32.const 48) "response")
  (data (i32.const 64) "wasmgate_unused_callbacks")
  (data (i32.const 96) "proxy_on_response_headers, proxy_on_log,proxy_on_no_such_thing")
  (global $next (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $size)))
    (local.get $at))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (if (local.get $size)
      (then (drop (call $foreign (i32.const 64) (i32.const 25) (i32.const 96) (i32.const 62)
                                 (i32.const 0) (i32.const 4)))))
    i32.const 1)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $add (i32.const 0) (i32.const 16) (i32.const 6) (i32.const 32) (i32.const 7)))
    i32.const 0)
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $add (i32.const 2) (i32.const 16) (i32.const 6) (i32.const 48) (i32.const 8)))
    i32.const 0)
  (func (export "proxy_on_log") (param i32) unreachable))
"#;

fn vm(config: &str) -> PluginVm {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let wasm = wat::parse_str(PLUGIN).unwrap();
    let module = PluginModule::from_bytes(&runtime, "unused", &wasm).unwrap();
    PluginVm::new(
        &module,
        VmConfig::new("unused", config),
        Box::new(NoCallouts),
    )
    .unwrap()
}

/// One request through the plugin: what it added to each header map, and how the stream's
/// end went.
fn request(vm: &mut PluginVm) -> (Option<String>, Option<String>, bool) {
    let id = block_on(vm.create_stream(StreamInfo::default())).unwrap();
    assert_eq!(
        block_on(vm.on_request_headers(id, true)).unwrap(),
        PhaseOutcome::Continue
    );
    assert_eq!(
        block_on(vm.on_response_headers(id, true)).unwrap(),
        PhaseOutcome::Continue
    );
    let stream = vm.stream(id).unwrap();
    let seen = |map: &wasmgate_host::HeaderMap| map.get_str("x-seen").map(str::to_string);
    let (request, response) = (
        seen(&stream.request_headers),
        seen(&stream.response_headers),
    );
    let finished = block_on(vm.finish_stream(id)).is_ok();
    (request, response, finished)
}

#[test]
fn the_callbacks_a_plugin_says_it_does_not_need_are_not_called() {
    let mut vm = vm("{}");
    for _ in 0..2 {
        let (request, response, finished) = request(&mut vm);
        assert_eq!(request.as_deref(), Some("request"));
        assert_eq!(response, None, "proxy_on_response_headers was called");
        assert!(finished, "proxy_on_log was called (it traps)");
    }
}

#[test]
fn a_plugin_that_says_nothing_is_called_for_every_phase() {
    let mut vm = vm("");
    let (request, response, finished) = request(&mut vm);
    assert_eq!(request.as_deref(), Some("request"));
    assert_eq!(response.as_deref(), Some("response"));
    assert!(!finished, "proxy_on_log was not called (it traps)");
}
