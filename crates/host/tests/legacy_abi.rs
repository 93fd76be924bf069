//! Modules of the older ABIs and the start-up paths: a 0.1.0 module (header callbacks
//! without `end_of_stream`, a missing header read as OK and empty, `proxy_continue_request`)
//! and a WASI command module started through `_start`.

use wasmgate_host::abi::AbiVersion;
use wasmgate_host::block_on;
use wasmgate_host::{
    NoCallouts, PhaseOutcome, PluginModule, PluginVm, Runtime, RuntimeConfig, StreamInfo, VmConfig,
};

const LEGACY: &str = r#"
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_request" (func $continue (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "x-missing")
  (data (i32.const 32) "x-legacy")
  (data (i32.const 48) "ok")
  (data (i32.const 56) "bad")
  (global $next (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_1_0"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $at i32)
    global.get $next
    local.set $at
    global.get $next
    local.get $size
    i32.add
    global.set $next
    local.get $at)
  (func (export "proxy_on_context_create") (param i32 i32))
  ;; 0.1.0: (context_id, num_headers), no end_of_stream
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (result i32)
    (if (i32.and
          (i32.eqz (call $get (i32.const 0) (i32.const 16) (i32.const 9) (i32.const 0) (i32.const 4)))
          (i32.eqz (i32.load (i32.const 4))))
      (then (drop (call $add (i32.const 0) (i32.const 32) (i32.const 8) (i32.const 48) (i32.const 2))))
      (else (drop (call $add (i32.const 0) (i32.const 32) (i32.const 8) (i32.const 56) (i32.const 3)))))
    (drop (call $continue))
    i32.const 1))
"#;

const COMMAND: &str = r#"
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $started (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024)
  (func (export "_start") (global.set $started (i32.const 1)) (call $exit (i32.const 0)))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) global.get $started))
"#;

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: None,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

#[test]
fn a_0_1_0_module_runs_with_the_legacy_semantics() {
    let runtime = runtime();
    let module =
        PluginModule::from_bytes(&runtime, "legacy", &wat::parse_str(LEGACY).unwrap()).unwrap();
    assert_eq!(module.abi(), AbiVersion::V0_1_0);
    let mut vm = PluginVm::new(&module, VmConfig::new("legacy", ""), Box::new(NoCallouts)).unwrap();
    let id = block_on(vm.create_stream(StreamInfo::default())).unwrap();
    // The plugin pauses but continues during the same callback: the continue wins.
    assert_eq!(
        block_on(vm.on_request_headers(id, true)).unwrap(),
        PhaseOutcome::Continue
    );
    let value = vm.stream(id).unwrap().request_headers.get(b"x-legacy");
    assert_eq!(value.as_deref(), Some(&b"ok"[..]));
}

#[test]
fn a_wasi_command_module_starts_through_start() {
    let runtime = runtime();
    let module =
        PluginModule::from_bytes(&runtime, "command", &wat::parse_str(COMMAND).unwrap()).unwrap();
    assert_eq!(module.abi(), AbiVersion::V0_2_0);
    // on_configure returns whether _start ran; proc_exit(0) ends _start without an error.
    PluginVm::new(&module, VmConfig::new("command", ""), Box::new(NoCallouts)).unwrap();
}

#[test]
fn compiled_modules_are_cached_on_disk() {
    let dir = std::env::temp_dir().join(format!("wasmgate-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.clone()),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let bytes = wat::parse_str(LEGACY).unwrap();
    let first = PluginModule::from_bytes(&runtime, "legacy", &bytes).unwrap();
    assert!(!first.from_cache());
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, 1, "one cached module");
    // A second start (a new engine, as a new process would have) loads it from disk.
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.clone()),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let second = PluginModule::from_bytes(&runtime, "legacy", &bytes).unwrap();
    assert!(second.from_cache());
    let mut vm = PluginVm::new(&second, VmConfig::new("legacy", ""), Box::new(NoCallouts)).unwrap();
    let id = block_on(vm.create_stream(StreamInfo::default())).unwrap();
    assert_eq!(
        block_on(vm.on_request_headers(id, true)).unwrap(),
        PhaseOutcome::Continue
    );
    // A damaged cache file is ignored and replaced, not trusted.
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let third = PluginModule::from_bytes(&runtime, "legacy", &bytes).unwrap();
    assert!(!third.from_cache());
    let _ = std::fs::remove_dir_all(&dir);
}
