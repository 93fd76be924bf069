//! The gRPC host functions of proxy-wasm 0.2.1 (`proxy_grpc_call`, `proxy_grpc_stream`,
//! `proxy_grpc_send`, `proxy_grpc_close`, `proxy_grpc_cancel`) and `proxy_get_status`, the
//! status of the callout being answered.
//!
//! `service` is what the host reads as a cluster name, or a serialized `GrpcService`
//! (`wasmgate_abi::grpc::GrpcService::encode`). Metadata is sent as the request's headers.

use wasmgate_abi::pairs;

use super::{check, take_bytes};
use crate::error::Result;

imports! {
    fn proxy_grpc_call(service: *const u8, service_len: usize, service_name: *const u8, service_name_len: usize, method: *const u8, method_len: usize, metadata: *const u8, metadata_len: usize, message: *const u8, message_len: usize, timeout_ms: u32, ret_token: *mut u32);
    fn proxy_grpc_stream(service: *const u8, service_len: usize, service_name: *const u8, service_name_len: usize, method: *const u8, method_len: usize, metadata: *const u8, metadata_len: usize, ret_token: *mut u32);
    fn proxy_grpc_send(token: u32, message: *const u8, message_len: usize, end_stream: u32);
    fn proxy_grpc_close(token: u32);
    fn proxy_grpc_cancel(token: u32);
    fn proxy_get_status(ret_code: *mut u32, ret_message: *mut *mut u8, ret_message_len: *mut usize);
}

/// Starts a unary call of `service_name`/`method` with one message; the answer arrives in
/// `proxy_on_grpc_receive` (OK) or `proxy_on_grpc_close` (a failure) with the token.
pub fn call<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    service: &[u8],
    service_name: &str,
    method: &str,
    metadata: &[(K, V)],
    message: &[u8],
    timeout_ms: u32,
) -> Result<u32> {
    let metadata = pairs::encode(metadata);
    let mut token = 0u32;
    // SAFETY: the pointers and lengths describe live slices; token is a valid slot.
    check("proxy_grpc_call", unsafe {
        imports::proxy_grpc_call(
            service.as_ptr(),
            service.len(),
            service_name.as_ptr(),
            service_name.len(),
            method.as_ptr(),
            method.len(),
            metadata.as_ptr(),
            metadata.len(),
            message.as_ptr(),
            message.len(),
            timeout_ms,
            &mut token,
        )
    })?;
    Ok(token)
}

/// Opens a stream to `service_name`/`method`; its events arrive with the token.
pub fn stream<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    service: &[u8],
    service_name: &str,
    method: &str,
    metadata: &[(K, V)],
) -> Result<u32> {
    let metadata = pairs::encode(metadata);
    let mut token = 0u32;
    // SAFETY: the pointers and lengths describe live slices; token is a valid slot.
    check("proxy_grpc_stream", unsafe {
        imports::proxy_grpc_stream(
            service.as_ptr(),
            service.len(),
            service_name.as_ptr(),
            service_name.len(),
            method.as_ptr(),
            method.len(),
            metadata.as_ptr(),
            metadata.len(),
            &mut token,
        )
    })?;
    Ok(token)
}

/// Sends a message on a stream; `end_of_stream` half-closes it after.
pub fn send(token: u32, message: &[u8], end_of_stream: bool) -> Result<()> {
    // SAFETY: the pointer and length describe `message`.
    check("proxy_grpc_send", unsafe {
        imports::proxy_grpc_send(token, message.as_ptr(), message.len(), end_of_stream as u32)
    })
}

/// Half-closes a stream (or cancels a unary call).
pub fn close(token: u32) -> Result<()> {
    // SAFETY: no pointers.
    check("proxy_grpc_close", unsafe {
        imports::proxy_grpc_close(token)
    })
}

/// Cancels a call or resets a stream: nothing more arrives for it.
pub fn cancel(token: u32) -> Result<()> {
    // SAFETY: no pointers.
    check("proxy_grpc_cancel", unsafe {
        imports::proxy_grpc_cancel(token)
    })
}

/// The status code and message of the callout being answered (in `proxy_on_grpc_close`:
/// the gRPC status).
pub fn status() -> Result<(u32, String)> {
    let mut code = 0u32;
    let mut ptr: *mut u8 = std::ptr::null_mut();
    let mut len: usize = 0;
    // SAFETY: the three are valid out-slots.
    check("proxy_get_status", unsafe {
        imports::proxy_get_status(&mut code, &mut ptr, &mut len)
    })?;
    // SAFETY: the host filled ptr/len on OK.
    let message = unsafe { take_bytes(ptr, len) };
    Ok((code, String::from_utf8_lossy(&message).into_owned()))
}
