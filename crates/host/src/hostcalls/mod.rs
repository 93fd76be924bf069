//! The host functions a plugin imports: every `env.proxy_*` function of ABI 0.1.0 – 0.2.1,
//! Higress's extensions, and WASI preview 1 (wasmtime-wasi, with stdio and files replaced by
//! the sandbox of [`wasi`]). Each function checks every guest pointer and answers with a
//! status; only a trap inside the guest's own allocator ends the call with a trap.

mod buffers;
mod callouts;
mod control;
mod grpc;
mod maps;
mod memory;
mod props;
mod shared;
mod wasi;

use wasmgate_abi::Status;
use wasmtime::{Engine, Linker};

use crate::state::HostState;

/// Why a host function did not complete: a status for the guest, or a trap that ends the
/// guest's call (raised by the guest's own allocator).
pub(crate) enum Fault {
    Status(Status),
    Trap(wasmtime::Error),
}

impl From<Status> for Fault {
    fn from(status: Status) -> Self {
        Fault::Status(status)
    }
}

pub(crate) type HostResult = Result<(), Fault>;

/// Turns a host function's result into the status the guest sees.
pub(crate) fn finish(result: HostResult) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(Status::Ok.raw() as i32),
        Err(Fault::Status(status)) => Ok(status.raw() as i32),
        Err(Fault::Trap(trap)) => Err(trap),
    }
}

/// Refuses a call that would make something larger than a plugin may make it
/// (BadArgument). The first refusal of its kind in a VM is logged, with `why`; `reported`
/// picks the flag of the VM's state that remembers it.
pub(crate) fn refuse_once(
    state: &mut HostState,
    reported: fn(&mut HostState) -> &mut bool,
    why: std::fmt::Arguments<'_>,
) -> HostResult {
    let flag = reported(state);
    if !*flag {
        *flag = true;
        tracing::warn!(
            plugin = %state.plugin_name,
            "{why}; later refusals of this VM are not reported"
        );
    }
    Err(Status::BadArgument.into())
}

/// The `env` functions this host provides.
pub(crate) const ENV_FUNCTIONS: &[&str] = &[
    "proxy_log",
    "proxy_get_log_level",
    "proxy_get_current_time_nanoseconds",
    "proxy_set_tick_period_milliseconds",
    "proxy_get_configuration",
    "proxy_get_buffer_bytes",
    "proxy_set_buffer_bytes",
    "proxy_get_buffer_status",
    "proxy_get_header_map_size",
    "proxy_get_header_map_pairs",
    "proxy_set_header_map_pairs",
    "proxy_get_header_map_value",
    "proxy_add_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_remove_header_map_value",
    "proxy_get_property",
    "proxy_set_property",
    "proxy_get_shared_data",
    "proxy_set_shared_data",
    "proxy_register_shared_queue",
    "proxy_resolve_shared_queue",
    "proxy_enqueue_shared_queue",
    "proxy_dequeue_shared_queue",
    "proxy_continue_stream",
    "proxy_close_stream",
    "proxy_continue_request",
    "proxy_continue_response",
    "proxy_clear_route_cache",
    "proxy_send_local_response",
    "proxy_http_call",
    "proxy_grpc_call",
    "proxy_grpc_stream",
    "proxy_grpc_send",
    "proxy_grpc_cancel",
    "proxy_grpc_close",
    "proxy_get_status",
    "proxy_set_effective_context",
    "proxy_done",
    "proxy_define_metric",
    "proxy_increment_metric",
    "proxy_record_metric",
    "proxy_get_metric",
    "proxy_call_foreign_function",
    "proxy_redis_init",
    "proxy_redis_call",
    "proxy_inject_encoded_data_to_filter_chain",
    "proxy_get_upstream_hosts",
    "proxy_set_upstream_override_host",
    "pthread_equal",
    "emscripten_notify_memory_growth",
];

/// Whether the host provides `module.name`.
pub(crate) fn provides(module: &str, name: &str) -> bool {
    match module {
        "env" => ENV_FUNCTIONS.contains(&name),
        "wasi_snapshot_preview1" | "wasi_unstable" => wasi::WASI_FUNCTIONS.contains(&name),
        _ => false,
    }
}

/// A linker with every host function.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut HostState| &mut s.wasi)?;
    wasmtime_wasi::p0::add_to_linker_sync(&mut linker, |s: &mut HostState| &mut s.wasi)?;
    linker.allow_shadowing(true);
    wasi::add_sandboxed_stdio(&mut linker)?;
    control::add(&mut linker)?;
    maps::add(&mut linker)?;
    buffers::add(&mut linker)?;
    props::add(&mut linker)?;
    shared::add(&mut linker)?;
    callouts::add(&mut linker)?;
    grpc::add(&mut linker)?;
    Ok(linker)
}
