//! The `wasmgate.yaml` loader: any text loads or is refused with a `ConfigError`, never a
//! panic; a refusal is one line that names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmgate_fuzz::{scratch, stays_local};

fuzz_target!(|text: &str| {
    if !stays_local(text) {
        return;
    }
    let path = scratch().join("wasmgate.yaml");
    if let Err(e) = wasmgate_proxy::parse_config(&path, text) {
        let message = e.to_string();
        assert!(message.contains("wasmgate.yaml"), "{message}");
    }
});
