//! Every host function of proxy-wasm 0.2.1 and Higress's extensions, as safe functions that
//! return [`Result`] (the gRPC ones in [`grpc`]). Nothing here panics on a status the host returns.
//!
//! These act on the host's *current* context: the one whose callback is running, or the one
//! set with [`set_effective_context`]. [`HttpContext`](crate::HttpContext) methods select
//! their own stream first, so most plugins never call this module directly.
//!
//! On targets other than `wasm32` the imports do not exist: every call returns
//! `Err(Unimplemented)`, so the crate's pure logic builds and tests natively.

use wasmgate_abi::{pairs, path, BufferType, LogLevel, MapType, MetricType, StreamType};

use crate::error::{Error, Result};

macro_rules! imports {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?);)*) => {
        #[cfg(target_arch = "wasm32")]
        mod imports {
            #[link(wasm_import_module = "env")]
            extern "C" {
                $(pub fn $name($($arg: $ty),*) -> u32;)*
            }
        }

        #[cfg(not(target_arch = "wasm32"))]
        #[allow(clippy::missing_safety_doc, clippy::too_many_arguments)]
        mod imports {
            $(pub unsafe fn $name($(_: $ty),*) -> u32 { 12 })*
        }
    };
}

imports! {
    fn proxy_log(level: u32, message: *const u8, message_len: usize);
    fn proxy_get_log_level(ret_level: *mut u32);
    fn proxy_get_current_time_nanoseconds(ret_time: *mut u64);
    fn proxy_set_tick_period_milliseconds(period: u32);
    fn proxy_set_effective_context(context_id: u32);
    fn proxy_done();
    fn proxy_get_buffer_bytes(buffer_type: u32, start: usize, max_size: usize, ret_data: *mut *mut u8, ret_size: *mut usize);
    fn proxy_set_buffer_bytes(buffer_type: u32, start: usize, size: usize, data: *const u8, data_len: usize);
    fn proxy_get_header_map_pairs(map_type: u32, ret_data: *mut *mut u8, ret_size: *mut usize);
    fn proxy_set_header_map_pairs(map_type: u32, data: *const u8, data_len: usize);
    fn proxy_get_header_map_value(map_type: u32, key: *const u8, key_len: usize, ret_data: *mut *mut u8, ret_size: *mut usize);
    fn proxy_add_header_map_value(map_type: u32, key: *const u8, key_len: usize, value: *const u8, value_len: usize);
    fn proxy_replace_header_map_value(map_type: u32, key: *const u8, key_len: usize, value: *const u8, value_len: usize);
    fn proxy_remove_header_map_value(map_type: u32, key: *const u8, key_len: usize);
    fn proxy_continue_stream(stream_type: u32);
    fn proxy_close_stream(stream_type: u32);
    fn proxy_send_local_response(status: u32, details: *const u8, details_len: usize, body: *const u8, body_len: usize, headers: *const u8, headers_len: usize, grpc_status: i32);
    fn proxy_http_call(upstream: *const u8, upstream_len: usize, headers: *const u8, headers_len: usize, body: *const u8, body_len: usize, trailers: *const u8, trailers_len: usize, timeout_ms: u32, ret_token: *mut u32);
    fn proxy_get_shared_data(key: *const u8, key_len: usize, ret_value: *mut *mut u8, ret_size: *mut usize, ret_cas: *mut u32);
    fn proxy_set_shared_data(key: *const u8, key_len: usize, value: *const u8, value_len: usize, cas: u32);
    fn proxy_register_shared_queue(name: *const u8, name_len: usize, ret_id: *mut u32);
    fn proxy_resolve_shared_queue(vm_id: *const u8, vm_id_len: usize, name: *const u8, name_len: usize, ret_id: *mut u32);
    fn proxy_enqueue_shared_queue(queue_id: u32, value: *const u8, value_len: usize);
    fn proxy_dequeue_shared_queue(queue_id: u32, ret_value: *mut *mut u8, ret_size: *mut usize);
    fn proxy_define_metric(metric_type: u32, name: *const u8, name_len: usize, ret_id: *mut u32);
    fn proxy_increment_metric(metric_id: u32, delta: i64);
    fn proxy_record_metric(metric_id: u32, value: u64);
    fn proxy_get_metric(metric_id: u32, ret_value: *mut u64);
    fn proxy_get_property(path: *const u8, path_len: usize, ret_value: *mut *mut u8, ret_size: *mut usize);
    fn proxy_set_property(path: *const u8, path_len: usize, value: *const u8, value_len: usize);
    fn proxy_call_foreign_function(name: *const u8, name_len: usize, args: *const u8, args_len: usize, ret_data: *mut *mut u8, ret_size: *mut usize);
    fn proxy_redis_init(upstream: *const u8, upstream_len: usize, username: *const u8, username_len: usize, password: *const u8, password_len: usize, timeout_ms: u32);
    fn proxy_redis_call(upstream: *const u8, upstream_len: usize, query: *const u8, query_len: usize, ret_token: *mut u32);
    fn proxy_inject_encoded_data_to_filter_chain(data: *const u8, data_len: usize, end_stream: u32);
    fn proxy_get_upstream_hosts(ret_data: *mut *mut u8, ret_size: *mut usize);
    fn proxy_set_upstream_override_host(address: *const u8, address_len: usize);
}

pub mod grpc;

fn check(call: &'static str, status: u32) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(Error::from_status(call, status))
    }
}

/// Takes ownership of bytes the host allocated with `proxy_on_memory_allocate`.
///
/// # Safety
/// `ptr`/`len` must come from the host's `ret_data`/`ret_size` of a successful call.
unsafe fn take_bytes(ptr: *mut u8, len: usize) -> Vec<u8> {
    if ptr.is_null() || len == 0 {
        if !ptr.is_null() {
            // A zero-length allocation still came from our allocator.
            drop(Vec::from_raw_parts(ptr, 0, 0));
        }
        return Vec::new();
    }
    // `proxy_on_memory_allocate` hands out boxed slices of exactly `len` bytes.
    Vec::from_raw_parts(ptr, len, len)
}

/// Calls a host function that returns bytes through `(ret_data, ret_size)`. NOT_FOUND and
/// EMPTY become `Ok(None)`.
fn returned(
    call: &'static str,
    f: impl FnOnce(*mut *mut u8, *mut usize) -> u32,
) -> Result<Option<Vec<u8>>> {
    let mut ptr: *mut u8 = std::ptr::null_mut();
    let mut len: usize = 0;
    match f(&mut ptr, &mut len) {
        // SAFETY: the host filled ptr/len on OK.
        0 => Ok(Some(unsafe { take_bytes(ptr, len) })),
        1 | 7 => Ok(None),
        status => Err(Error::from_status(call, status)),
    }
}

/// Writes a log line at `level` (`proxy_log`).
pub fn log(level: LogLevel, message: &str) -> Result<()> {
    // SAFETY: the pointer and length describe `message`.
    let s = unsafe { imports::proxy_log(level.raw(), message.as_ptr(), message.len()) };
    check("proxy_log", s)
}

/// The host's log level (`proxy_get_log_level`).
pub fn get_log_level() -> Result<LogLevel> {
    let mut level = 0u32;
    // SAFETY: `level` is a valid u32 slot.
    check("proxy_get_log_level", unsafe {
        imports::proxy_get_log_level(&mut level)
    })?;
    LogLevel::from_raw(level).ok_or_else(|| Error::Decode(format!("log level {level}")))
}

/// The host's wall-clock time in nanoseconds since the Unix epoch.
pub fn get_current_time_nanos() -> Result<u64> {
    let mut t = 0u64;
    // SAFETY: `t` is a valid u64 slot.
    check("proxy_get_current_time_nanoseconds", unsafe {
        imports::proxy_get_current_time_nanoseconds(&mut t)
    })?;
    Ok(t)
}

/// Asks for `proxy_on_tick` every `period_ms` milliseconds (0 stops the ticks).
pub fn set_tick_period_ms(period_ms: u32) -> Result<()> {
    // SAFETY: no pointers.
    check("proxy_set_tick_period_milliseconds", unsafe {
        imports::proxy_set_tick_period_milliseconds(period_ms)
    })
}

/// Makes `context_id` the context later host calls act on.
pub fn set_effective_context(context_id: u32) -> Result<()> {
    // SAFETY: no pointers.
    check("proxy_set_effective_context", unsafe {
        imports::proxy_set_effective_context(context_id)
    })
}

/// Completes an `on_done` that returned false.
pub fn done() -> Result<()> {
    // SAFETY: no pointers.
    check("proxy_done", unsafe { imports::proxy_done() })
}

/// Bytes `[start, start + max_size)` of a buffer; `Ok(None)` when the buffer is absent.
pub fn get_buffer(buffer: BufferType, start: usize, max_size: usize) -> Result<Option<Vec<u8>>> {
    returned("proxy_get_buffer_bytes", |p, l| unsafe {
        // SAFETY: p and l are valid out-slots.
        imports::proxy_get_buffer_bytes(buffer.raw(), start, max_size, p, l)
    })
}

/// Replaces bytes `[start, start + size)` of a buffer with `value` (`start = size = 0`
/// prepends; `start` past the end appends).
pub fn set_buffer(buffer: BufferType, start: usize, size: usize, value: &[u8]) -> Result<()> {
    // SAFETY: the pointer and length describe `value`.
    check("proxy_set_buffer_bytes", unsafe {
        imports::proxy_set_buffer_bytes(buffer.raw(), start, size, value.as_ptr(), value.len())
    })
}

/// Every pair of a header map, as bytes (header values are not always UTF-8).
pub fn get_map(map: MapType) -> Result<pairs::Pairs> {
    pairs::decode(&get_map_bytes(map)?).map_err(|e| Error::Decode(e.to_string()))
}

/// A whole header map in the wire format, undecoded (see [`pairs::decode_borrowed`]).
pub fn get_map_bytes(map: MapType) -> Result<Vec<u8>> {
    Ok(returned("proxy_get_header_map_pairs", |p, l| unsafe {
        // SAFETY: p and l are valid out-slots.
        imports::proxy_get_header_map_pairs(map.raw(), p, l)
    })?
    .unwrap_or_default())
}

/// Replaces a whole header map.
pub fn set_map<K: AsRef<[u8]>, V: AsRef<[u8]>>(map: MapType, pairs: &[(K, V)]) -> Result<()> {
    let bytes = pairs::encode(pairs);
    // SAFETY: the pointer and length describe `bytes`.
    check("proxy_set_header_map_pairs", unsafe {
        imports::proxy_set_header_map_pairs(map.raw(), bytes.as_ptr(), bytes.len())
    })
}

/// One header's value; `Ok(None)` when absent.
pub fn get_map_value(map: MapType, key: &str) -> Result<Option<Vec<u8>>> {
    returned("proxy_get_header_map_value", |p, l| unsafe {
        // SAFETY: key describes a live str; p and l are valid out-slots.
        imports::proxy_get_header_map_value(map.raw(), key.as_ptr(), key.len(), p, l)
    })
}

/// Adds a header (keeping existing values of the same name).
pub fn add_map_value(map: MapType, key: &str, value: &[u8]) -> Result<()> {
    // SAFETY: the pointers and lengths describe live slices.
    check("proxy_add_header_map_value", unsafe {
        imports::proxy_add_header_map_value(
            map.raw(),
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Sets a header, replacing every existing value of that name.
pub fn replace_map_value(map: MapType, key: &str, value: &[u8]) -> Result<()> {
    // SAFETY: the pointers and lengths describe live slices.
    check("proxy_replace_header_map_value", unsafe {
        imports::proxy_replace_header_map_value(
            map.raw(),
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Removes every value of a header.
pub fn remove_map_value(map: MapType, key: &str) -> Result<()> {
    // SAFETY: the pointer and length describe `key`.
    check("proxy_remove_header_map_value", unsafe {
        imports::proxy_remove_header_map_value(map.raw(), key.as_ptr(), key.len())
    })
}

/// Resumes a paused stream direction.
pub fn continue_stream(stream: StreamType) -> Result<()> {
    // SAFETY: no pointers.
    check("proxy_continue_stream", unsafe {
        imports::proxy_continue_stream(stream.raw())
    })
}

/// Closes (resets) the stream.
pub fn close_stream(stream: StreamType) -> Result<()> {
    // SAFETY: no pointers.
    check("proxy_close_stream", unsafe {
        imports::proxy_close_stream(stream.raw())
    })
}

/// Answers the request locally. `grpc_status` `None` sends no gRPC status.
pub fn send_local_response<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    status: u32,
    details: &str,
    headers: &[(K, V)],
    body: &[u8],
    grpc_status: Option<i32>,
) -> Result<()> {
    let headers = pairs::encode(headers);
    // SAFETY: the pointers and lengths describe live slices.
    check("proxy_send_local_response", unsafe {
        imports::proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            grpc_status.unwrap_or(-1),
        )
    })
}

/// Sends an HTTP request to a cluster; the answer arrives in `proxy_on_http_call_response`
/// with the returned token.
pub fn http_call<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    upstream: &str,
    headers: &[(K, V)],
    body: &[u8],
    timeout_ms: u32,
) -> Result<u32> {
    let headers = pairs::encode(headers);
    let trailers = pairs::encode::<&[u8], &[u8]>(&[]);
    let mut token = 0u32;
    // SAFETY: the pointers and lengths describe live slices; token is a valid slot.
    check("proxy_http_call", unsafe {
        imports::proxy_http_call(
            upstream.as_ptr(),
            upstream.len(),
            headers.as_ptr(),
            headers.len(),
            body.as_ptr(),
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        )
    })?;
    Ok(token)
}

/// A shared-data value and its CAS; `Ok(None)` when the key is absent.
pub fn get_shared_data(key: &str) -> Result<Option<(Vec<u8>, u32)>> {
    let mut cas = 0u32;
    let value = returned("proxy_get_shared_data", |p, l| unsafe {
        // SAFETY: key describes a live str; the out-slots are valid.
        imports::proxy_get_shared_data(key.as_ptr(), key.len(), p, l, &mut cas)
    })?;
    Ok(value.map(|v| (v, cas)))
}

/// Stores a shared-data value. `cas` 0 writes unconditionally; otherwise a stale CAS fails
/// with `CasMismatch`.
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<()> {
    // SAFETY: the pointers and lengths describe live slices.
    check("proxy_set_shared_data", unsafe {
        imports::proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

/// Registers a shared queue of this VM and returns its id.
pub fn register_shared_queue(name: &str) -> Result<u32> {
    let mut id = 0u32;
    // SAFETY: name describes a live str; id is a valid slot.
    check("proxy_register_shared_queue", unsafe {
        imports::proxy_register_shared_queue(name.as_ptr(), name.len(), &mut id)
    })?;
    Ok(id)
}

/// The id of a queue registered by the VM `vm_id`.
pub fn resolve_shared_queue(vm_id: &str, name: &str) -> Result<u32> {
    let mut id = 0u32;
    // SAFETY: the pointers and lengths describe live strs; id is a valid slot.
    check("proxy_resolve_shared_queue", unsafe {
        imports::proxy_resolve_shared_queue(
            vm_id.as_ptr(),
            vm_id.len(),
            name.as_ptr(),
            name.len(),
            &mut id,
        )
    })?;
    Ok(id)
}

/// Appends a value to a shared queue.
pub fn enqueue_shared_queue(queue_id: u32, value: &[u8]) -> Result<()> {
    // SAFETY: the pointer and length describe `value`.
    check("proxy_enqueue_shared_queue", unsafe {
        imports::proxy_enqueue_shared_queue(queue_id, value.as_ptr(), value.len())
    })
}

/// Takes the oldest value of a shared queue; `Ok(None)` when it is empty.
pub fn dequeue_shared_queue(queue_id: u32) -> Result<Option<Vec<u8>>> {
    returned("proxy_dequeue_shared_queue", |p, l| unsafe {
        // SAFETY: p and l are valid out-slots.
        imports::proxy_dequeue_shared_queue(queue_id, p, l)
    })
}

/// Defines (or finds) a metric and returns its id.
pub fn define_metric(kind: MetricType, name: &str) -> Result<u32> {
    let mut id = 0u32;
    // SAFETY: name describes a live str; id is a valid slot.
    check("proxy_define_metric", unsafe {
        imports::proxy_define_metric(kind.raw(), name.as_ptr(), name.len(), &mut id)
    })?;
    Ok(id)
}

/// Adds `delta` to a counter or gauge.
pub fn increment_metric(metric_id: u32, delta: i64) -> Result<()> {
    // SAFETY: no pointers.
    check("proxy_increment_metric", unsafe {
        imports::proxy_increment_metric(metric_id, delta)
    })
}

/// Sets a gauge or records a histogram sample.
pub fn record_metric(metric_id: u32, value: u64) -> Result<()> {
    // SAFETY: no pointers.
    check("proxy_record_metric", unsafe {
        imports::proxy_record_metric(metric_id, value)
    })
}

/// A metric's current value.
pub fn get_metric(metric_id: u32) -> Result<u64> {
    let mut v = 0u64;
    // SAFETY: v is a valid slot.
    check("proxy_get_metric", unsafe {
        imports::proxy_get_metric(metric_id, &mut v)
    })?;
    Ok(v)
}

/// A property by path segments (`["request", "path"]`); `Ok(None)` when absent.
pub fn get_property<S: AsRef<[u8]>>(path: &[S]) -> Result<Option<Vec<u8>>> {
    let raw_path = path::encode(path);
    returned("proxy_get_property", |p, l| unsafe {
        // SAFETY: raw_path is live; p and l are valid out-slots.
        imports::proxy_get_property(raw_path.as_ptr(), raw_path.len(), p, l)
    })
}

/// Sets a property by path segments.
pub fn set_property<S: AsRef<[u8]>>(path: &[S], value: &[u8]) -> Result<()> {
    let raw_path = path::encode(path);
    // SAFETY: the pointers and lengths describe live slices.
    check("proxy_set_property", unsafe {
        imports::proxy_set_property(
            raw_path.as_ptr(),
            raw_path.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

/// Calls a host foreign function (`get_log_level`, `set_global_max_requests_per_io_cycle`,
/// …) and returns its result bytes.
pub fn call_foreign_function(name: &str, args: &[u8]) -> Result<Vec<u8>> {
    Ok(returned("proxy_call_foreign_function", |p, l| unsafe {
        // SAFETY: the pointers and lengths describe live slices; p and l are valid out-slots.
        imports::proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            args.as_ptr(),
            args.len(),
            p,
            l,
        )
    })?
    .unwrap_or_default())
}

/// Higress: opens (or re-opens) a Redis connection pool for `upstream`
/// (`cluster?db=…&buffer_flush_timeout=…&max_buffer_size_before_flush=…`).
pub fn redis_init(upstream: &str, username: &str, password: &str, timeout_ms: u32) -> Result<()> {
    // SAFETY: the pointers and lengths describe live strs.
    check("proxy_redis_init", unsafe {
        imports::proxy_redis_init(
            upstream.as_ptr(),
            upstream.len(),
            username.as_ptr(),
            username.len(),
            password.as_ptr(),
            password.len(),
            timeout_ms,
        )
    })
}

/// Higress: sends a RESP-encoded command; the reply arrives in
/// `proxy_on_redis_call_response` with the returned token.
pub fn redis_call(upstream: &str, query: &[u8]) -> Result<u32> {
    let mut token = 0u32;
    // SAFETY: the pointers and lengths describe live slices; token is a valid slot.
    check("proxy_redis_call", unsafe {
        imports::proxy_redis_call(
            upstream.as_ptr(),
            upstream.len(),
            query.as_ptr(),
            query.len(),
            &mut token,
        )
    })?;
    Ok(token)
}

/// Higress: emits held stream data downstream (after `DataAction::StopIterationNoBuffer`).
pub fn inject_encoded_data(data: &[u8], end_stream: bool) -> Result<()> {
    // SAFETY: the pointer and length describe `data`.
    check("proxy_inject_encoded_data_to_filter_chain", unsafe {
        imports::proxy_inject_encoded_data_to_filter_chain(
            data.as_ptr(),
            data.len(),
            end_stream as u32,
        )
    })
}

/// wasmgate: answers the current request with these response headers (`:status` among
/// them) and keeps its body open: data injected later with [`inject_encoded_data`], from
/// any callback, goes to the client at once; an injection with `end_stream` ends it.
/// Envoy and Higress have no such function (`NotFound` there).
pub fn open_response<K: AsRef<[u8]>, V: AsRef<[u8]>>(headers: &[(K, V)]) -> Result<()> {
    call_foreign_function("wasmgate_open_response", &pairs::encode(headers)).map(|_| ())
}

/// Higress: the current route's upstream hosts, as (address, metrics text) pairs.
pub fn get_upstream_hosts() -> Result<pairs::Pairs> {
    let bytes = returned("proxy_get_upstream_hosts", |p, l| unsafe {
        // SAFETY: p and l are valid out-slots.
        imports::proxy_get_upstream_hosts(p, l)
    })?
    .unwrap_or_default();
    pairs::decode(&bytes).map_err(|e| Error::Decode(e.to_string()))
}

/// Higress: sends the current request to this upstream host (`ip:port`).
pub fn set_upstream_override_host(address: &str) -> Result<()> {
    // SAFETY: the pointer and length describe `address`.
    check("proxy_set_upstream_override_host", unsafe {
        imports::proxy_set_upstream_override_host(address.as_ptr(), address.len())
    })
}
