//! The Higress `WasmPlugin` loader: a `wasmgate.yaml` that names a resource file whose text
//! is the input; it loads or is refused with a `ConfigError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmgate_fuzz::{scratch, stays_local};

fuzz_target!(|text: &str| {
    if !stays_local(text) {
        return;
    }
    let dir = scratch();
    std::fs::write(dir.join("plugin.wasm"), b"\0asm\x01\0\0\0").expect("a plugin file");
    std::fs::write(dir.join("resource.yaml"), text).expect("the resource written");
    let config = "listen: 127.0.0.1:0\nplugins:\n  - wasmplugin: resource.yaml\n";
    let _ = wasmgate_proxy::parse_config(&dir.join("wasmgate.yaml"), config);
});
