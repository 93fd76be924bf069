//! The quick start: a large plugin missing from the cache runs on baseline (Winch) code at
//! once, its optimized (Cranelift) code lands in the cache in the background, and the next
//! start takes that.

use std::time::{Duration, Instant};

use wasmgate_host::block_on;
use wasmgate_host::{
    NoCallouts, PhaseOutcome, PluginModule, PluginVm, Runtime, RuntimeConfig, StreamInfo, Tier,
    VmConfig, QUICK_START_MIN_BYTES,
};

/// A 0_2_1 plugin that adds `x-tier: on` to each request, padded past the quick-start size
/// with a data segment.
fn large_plugin() -> Vec<u8> {
    let padding = "a".repeat(QUICK_START_MIN_BYTES);
    let wat = format!(
        r#"(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 32)
  (data (i32.const 16) "x-tier")
  (data (i32.const 32) "on")
  (data (i32.const 65536) "{padding}")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024)
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $add (i32.const 0) (i32.const 16) (i32.const 6) (i32.const 32) (i32.const 2)))
    i32.const 0))"#
    );
    wat::parse_str(wat).expect("valid wat")
}

fn runtime(cache_dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(cache_dir.to_path_buf()),
        quick_start: true,
        ..RuntimeConfig::default()
    })
    .expect("engines")
}

fn adds_the_header(module: &PluginModule) {
    let mut vm = PluginVm::new(module, VmConfig::new("tier", ""), Box::new(NoCallouts))
        .expect("the plugin starts");
    let id = block_on(vm.create_stream(StreamInfo::default())).expect("a stream");
    assert_eq!(
        block_on(vm.on_request_headers(id, true)).expect("runs"),
        PhaseOutcome::Continue
    );
    let stream = vm.stream(id).expect("the stream");
    assert_eq!(stream.request_headers.get_str("x-tier"), Some("on"));
}

#[test]
fn a_large_plugin_starts_on_baseline_code_and_caches_optimized_code() {
    let dir = std::env::temp_dir().join(format!("wasmgate-quick-start-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = large_plugin();

    let first = PluginModule::from_bytes(&runtime(&dir), "large", &bytes).expect("compiles");
    assert_eq!(first.tier(), Tier::Baseline);
    assert!(!first.from_cache());
    adds_the_header(&first);

    // The running module learns when its optimized code is in the cache.
    let deadline = Instant::now() + Duration::from_secs(120);
    let upgraded = loop {
        if let Some(upgraded) = first.optimized() {
            break upgraded;
        }
        assert!(
            Instant::now() < deadline,
            "no optimized code in the cache after 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(upgraded.tier(), Tier::Optimized);
    assert_eq!(upgraded.sha256(), first.sha256());
    assert!(upgraded.optimized().is_none(), "already optimized");
    adds_the_header(&upgraded);

    let second = PluginModule::from_bytes(&runtime(&dir), "large", &bytes).expect("loads");
    assert_eq!(second.tier(), Tier::Optimized);
    assert!(second.from_cache());
    adds_the_header(&second);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_small_plugin_or_no_cache_gets_optimized_code_at_once() {
    let bytes = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "proxy_abi_version_0_2_1"))
             (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024))"#,
    )
    .expect("valid wat");
    let dir = std::env::temp_dir().join(format!("wasmgate-quick-small-{}", std::process::id()));
    let small = PluginModule::from_bytes(&runtime(&dir), "small", &bytes).expect("compiles");
    assert_eq!(small.tier(), Tier::Optimized);
    let _ = std::fs::remove_dir_all(&dir);

    let no_cache = Runtime::new(RuntimeConfig {
        cache_dir: None,
        quick_start: true,
        ..RuntimeConfig::default()
    })
    .expect("engine");
    let large = PluginModule::from_bytes(&no_cache, "large", &large_plugin()).expect("compiles");
    assert_eq!(large.tier(), Tier::Optimized);
}

#[test]
fn a_file_with_known_bytes_takes_the_known_module() {
    let dir = std::env::temp_dir().join(format!("wasmgate-known-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let no_cache = || {
        Runtime::new(RuntimeConfig {
            cache_dir: None,
            ..RuntimeConfig::default()
        })
        .expect("engine")
    };
    let file = dir.join("large.wasm");
    std::fs::write(&file, large_plugin()).expect("written");
    let running = PluginModule::from_file(&no_cache(), &file).expect("compiles");

    let again =
        PluginModule::from_file_or_known(&no_cache(), &file, std::slice::from_ref(&running))
            .expect("loads");
    assert!(again.same_code(&running), "compiled again");
    adds_the_header(&again);

    // Other settings (here a cache) or other bytes: compiled anew.
    let other_settings =
        PluginModule::from_file_or_known(&runtime(&dir), &file, std::slice::from_ref(&running))
            .expect("compiles");
    assert!(!other_settings.same_code(&running));
    let small = dir.join("small.wasm");
    std::fs::write(
        &small,
        wat::parse_str(
            r#"(module (memory (export "memory") 1)
                 (func (export "proxy_abi_version_0_2_1"))
                 (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024))"#,
        )
        .expect("valid wat"),
    )
    .expect("written");
    let other_bytes =
        PluginModule::from_file_or_known(&no_cache(), &small, std::slice::from_ref(&running))
            .expect("compiles");
    assert!(!other_bytes.same_code(&running));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn perf_map_names_the_compiled_functions_for_perf() {
    let map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", std::process::id()));
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: None,
        perf_map: true,
        ..RuntimeConfig::default()
    })
    .expect("engine");
    let bytes = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "proxy_abi_version_0_2_1"))
             (func $named_for_perf (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 1024))"#,
    )
    .expect("valid wat");
    PluginModule::from_bytes(&runtime, "mapped", &bytes).expect("compiles");
    let text = std::fs::read_to_string(&map).expect("wasmtime wrote the perf map");
    assert!(text.contains("named_for_perf"), "perf map: {text}");
    let _ = std::fs::remove_file(&map);
}
