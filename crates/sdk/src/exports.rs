//! The functions the host calls (`proxy_on_*`, `proxy_on_memory_allocate`, the ABI marker).
//! Each records the context the host entered and hands the call to the registered plugin
//! ([`dispatch`](crate::dispatch)), a callout's waiter, the tick functions or the tasks.
//!
//! The marker is `proxy_abi_version_0_2_100` (Higress), or `proxy_abi_version_0_2_1` with
//! the `standard-abi` feature.

use std::mem::MaybeUninit;

use wasmgate_abi::LogLevel;

use crate::context::{self, HttpContext};
use crate::dispatch::{self, data_raw, header_raw, Dispatch};
use crate::{grpc, http, raw, redis, state, task, tick};

/// Host memory for returned data: a boxed slice of exactly `size` bytes, which
/// `raw` takes back with `Vec::from_raw_parts(ptr, size, size)`.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut buffer: Vec<MaybeUninit<u8>> = Vec::with_capacity(size);
    // SAFETY: MaybeUninit needs no initialisation; the host writes the bytes.
    unsafe { buffer.set_len(size) };
    Box::into_raw(buffer.into_boxed_slice()) as *mut u8
}

/// The ABI marker: Higress's 0_2_100 (raw Envoy action values).
#[cfg(not(feature = "standard-abi"))]
#[unsafe(no_mangle)]
pub extern "C" fn proxy_abi_version_0_2_100() {}

/// The ABI marker: standard 0_2_1 (actions are Continue 0 / Pause 1).
#[cfg(feature = "standard-abi")]
#[unsafe(no_mangle)]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// A context is created: the root (plugin) one or a request's.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_context_create(context_id: u32, parent_context_id: u32) {
    state::entered(context_id);
    if parent_context_id == 0 {
        state::set_root_id(context_id);
    } else {
        context::open(context_id);
    }
}

/// The VM starts.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_vm_start(root_context_id: u32, _vm_configuration_size: usize) -> u32 {
    state::entered(root_context_id);
    1
}

/// The plugin is configured: parse the configuration and rules.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_configure(
    root_context_id: u32,
    plugin_configuration_size: usize,
) -> u32 {
    state::entered(root_context_id);
    match dispatch::plugin() {
        Some(p) => {
            let ok = p.configure(plugin_configuration_size);
            if ok {
                tick::after_configure();
            }
            ok as u32
        }
        None => {
            let _ = raw::log(
                LogLevel::Critical,
                "wasmgate-sdk: no plugin registered (use wasmgate_sdk::plugin!)",
            );
            0
        }
    }
}

fn with_stream(
    context_id: u32,
    f: impl FnOnce(&dyn Dispatch, &HttpContext) -> u32,
    default: u32,
) -> u32 {
    state::entered(context_id);
    let (Some(p), Some(ctx)) = (dispatch::plugin(), context::live(context_id)) else {
        return default;
    };
    let raw = f(&*p, &ctx);
    task::run_ready();
    raw
}

/// Request headers.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_headers(
    context_id: u32,
    _num_headers: usize,
    end_of_stream: u32,
) -> u32 {
    with_stream(
        context_id,
        |p, ctx| p.request_headers(ctx, end_of_stream != 0),
        header_raw(wasmgate_abi::HeaderAction::Continue),
    )
}

/// A request body chunk (`body_size` = what the host holds now).
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_body(
    context_id: u32,
    body_size: usize,
    end_of_stream: u32,
) -> u32 {
    with_stream(
        context_id,
        |p, ctx| p.request_body(ctx, body_size, end_of_stream != 0),
        data_raw(wasmgate_abi::DataAction::Continue),
    )
}

/// Request trailers (0: continue, 1: stop).
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_trailers(context_id: u32, _num_trailers: usize) -> u32 {
    with_stream(context_id, |p, ctx| p.request_trailers(ctx), 0)
}

/// Response headers.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_headers(
    context_id: u32,
    _num_headers: usize,
    end_of_stream: u32,
) -> u32 {
    with_stream(
        context_id,
        |p, ctx| p.response_headers(ctx, end_of_stream != 0),
        header_raw(wasmgate_abi::HeaderAction::Continue),
    )
}

/// A response body chunk.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_body(
    context_id: u32,
    body_size: usize,
    end_of_stream: u32,
) -> u32 {
    with_stream(
        context_id,
        |p, ctx| p.response_body(ctx, body_size, end_of_stream != 0),
        data_raw(wasmgate_abi::DataAction::Continue),
    )
}

/// Response trailers (0: continue, 1: stop).
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_trailers(context_id: u32, _num_trailers: usize) -> u32 {
    with_stream(context_id, |p, ctx| p.response_trailers(ctx), 0)
}

/// The stream is done; the SDK never defers it.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_done(context_id: u32) -> u32 {
    state::entered(context_id);
    1
}

/// Access-log time: the stream-done handler runs.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_log(context_id: u32) {
    with_stream(
        context_id,
        |p, ctx| {
            p.stream_done(ctx);
            0
        },
        0,
    );
}

/// The context is gone: its tasks are dropped.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    state::entered(context_id);
    if context::close(context_id) {
        task::cancel_owner(context_id);
    }
}

/// A timer tick.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_tick(root_context_id: u32) {
    state::entered(root_context_id);
    tick::on_tick();
    task::run_ready();
}

/// An HTTP callout's answer (`num_headers` 0: it failed).
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_http_call_response(
    root_context_id: u32,
    token: u32,
    num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    state::entered(root_context_id);
    http::on_response(token, num_headers, body_size);
}

/// Higress: a Redis reply (`status` 0: ok; the reply is buffer 9).
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_redis_call_response(
    root_context_id: u32,
    token: u32,
    status: i32,
    response_size: i32,
) {
    state::entered(root_context_id);
    redis::dispatch_response(token, status, response_size.max(0) as usize);
}

/// A gRPC stream's response headers.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_receive_initial_metadata(
    root_context_id: u32,
    token: u32,
    _num_headers: usize,
) {
    state::entered(root_context_id);
    grpc::on_initial_metadata(token);
    task::run_ready();
}

/// A unary gRPC call's answer, or a stream's message (buffer `GrpcReceiveBuffer`).
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_receive(root_context_id: u32, token: u32, message_size: usize) {
    state::entered(root_context_id);
    grpc::on_receive(token, message_size);
    task::run_ready();
}

/// A gRPC stream's trailers.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_receive_trailing_metadata(
    root_context_id: u32,
    token: u32,
    _num_trailers: usize,
) {
    state::entered(root_context_id);
    grpc::on_trailing_metadata(token);
    task::run_ready();
}

/// A gRPC call's failure, or a stream's end (the message through `proxy_get_status`).
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_close(root_context_id: u32, token: u32, status_code: u32) {
    state::entered(root_context_id);
    grpc::on_close(token, status_code);
    task::run_ready();
}

/// A shared queue has data.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_queue_ready(root_context_id: u32, queue_id: u32) {
    state::entered(root_context_id);
    tick::on_queue_ready(queue_id);
    task::run_ready();
}
