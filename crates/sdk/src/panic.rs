//! The panic hook: a panic is logged with its message and location, and the current
//! request is answered with a 500. On `wasm32-wasip1` a panic then aborts (the target's std
//! is built with `panic=abort`), which traps the VM: the host fails the request and
//! rebuilds the VM.

use wasmgate_abi::LogLevel;

use crate::raw;

/// Installs the hook (once the plugin is registered).
pub(crate) fn install_hook() {
    std::panic::set_hook(Box::new(hook));
}

fn hook(info: &std::panic::PanicHookInfo<'_>) {
    let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = info.payload().downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    };
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_else(|| "unknown location".into());
    let line = format!(
        "{}panicked at {location}: {}",
        crate::log::prefix_for_panic(),
        message.replace('\n', "\\n")
    );
    let _ = raw::log(LogLevel::Critical, &line);
    let _ = raw::send_local_response::<&str, &str>(500, "wasmgate_sdk.panic", &[], b"", None);
}
