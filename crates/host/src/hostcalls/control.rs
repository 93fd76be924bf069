//! Logging, time, ticks, the effective context, stream control (continue, close, local
//! replies, `proxy_done`) and foreign functions: Higress's, and wasmgate's own
//! `wasmgate_open_response` (answer with headers and keep the body open: what the plugin
//! then injects with `inject_encoded_data_to_filter_chain*` from any callback goes to the
//! client at once, until an injection ends it).

use wasmgate_abi::inject::InjectArguments;
use wasmgate_abi::{pairs, LogLevel, Status, StreamType};
use wasmtime::{Caller, Linker};

use super::memory::{link_answering, read, write_u32, write_u64, Answer};
use super::{finish, Fault, HostResult};
use crate::exports::UNUSED_CALLBACKS;
use crate::state::HostState;
use crate::stream::{HeaderMap, LocalReply};

type C<'a> = Caller<'a, HostState>;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |mut c: C<'_>, level: u32, ptr: u32, len: u32| finish(log(&mut c, level, ptr, len)),
    )?;
    linker.func_wrap("env", "proxy_get_log_level", |mut c: C<'_>, ret: u32| {
        let level = c.data().log_level.raw();
        finish(write_u32(&mut c, ret, level))
    })?;
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: C<'_>, ret: u32| finish(write_u64(&mut c, ret, now_nanos())),
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: C<'_>, period: u32| {
            c.data_mut().tick_period_ms = period;
            finish(Ok(()))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut c: C<'_>, id: u32| {
            let state = c.data_mut();
            if id == state.root_context_id || state.streams.contains_key(&id) {
                state.current_context = id;
                finish(Ok(()))
            } else {
                finish(Err(Status::BadArgument.into()))
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_continue_stream",
        |mut c: C<'_>, stream: u32| finish(continue_stream(&mut c, StreamType::from_raw(stream))),
    )?;
    linker.func_wrap("env", "proxy_continue_request", |mut c: C<'_>| {
        finish(continue_stream(&mut c, Some(StreamType::HttpRequest)))
    })?;
    linker.func_wrap("env", "proxy_continue_response", |mut c: C<'_>| {
        finish(continue_stream(&mut c, Some(StreamType::HttpResponse)))
    })?;
    linker.func_wrap("env", "proxy_clear_route_cache", |_: C<'_>| finish(Ok(())))?;
    linker.func_wrap("env", "proxy_close_stream", |mut c: C<'_>, _stream: u32| {
        finish(close_stream(&mut c))
    })?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: C<'_>,
         status: u32,
         dp: u32,
         dl: u32,
         bp: u32,
         bl: u32,
         hp: u32,
         hl: u32,
         grpc: i32| {
            finish(send_local_response(
                &mut c,
                status,
                (dp, dl),
                (bp, bl),
                (hp, hl),
                grpc,
            ))
        },
    )?;
    linker.func_wrap("env", "proxy_done", |mut c: C<'_>| {
        let result = match c.data_mut().current_stream() {
            Some(stream) => {
                stream.done_pending = false;
                Ok(())
            }
            None => Err(Status::NotFound.into()),
        };
        finish(result)
    })?;
    link_answering(linker, "proxy_call_foreign_function", call_foreign)?;
    linker.func_wrap("env", "pthread_equal", |_: C<'_>, a: i32, b: i32| -> i32 {
        (a == b) as i32
    })?;
    linker.func_wrap(
        "env",
        "emscripten_notify_memory_growth",
        |_: C<'_>, _index: i32| {},
    )?;
    Ok(())
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn log(c: &mut C<'_>, level: u32, ptr: u32, len: u32) -> HostResult {
    let level = LogLevel::from_raw(level).unwrap_or(LogLevel::Critical);
    let message = read(c, ptr, len)?;
    c.data()
        .log(level, String::from_utf8_lossy(&message).into_owned());
    Ok(())
}

fn continue_stream(c: &mut C<'_>, stream: Option<StreamType>) -> HostResult {
    let state = c.data_mut();
    let http = state.current_stream().ok_or(Status::NotFound)?;
    match stream {
        Some(StreamType::HttpRequest) => http.deferred.resume_request = true,
        Some(StreamType::HttpResponse) => http.deferred.resume_response = true,
        _ => return Err(Status::BadArgument.into()),
    }
    // Envoy takes back the request headers on a resume of either direction.
    http.maps.request_headers = false;
    state.signal_current();
    Ok(())
}

fn close_stream(c: &mut C<'_>) -> HostResult {
    let state = c.data_mut();
    state
        .current_stream()
        .ok_or(Status::NotFound)?
        .deferred
        .close = true;
    state.signal_current();
    Ok(())
}

fn send_local_response(
    c: &mut C<'_>,
    status: u32,
    details: (u32, u32),
    body: (u32, u32),
    headers: (u32, u32),
    grpc_status: i32,
) -> HostResult {
    let details = read(c, details.0, details.1)?;
    let body = read(c, body.0, body.1)?;
    let raw_headers = read(c, headers.0, headers.1)?;
    let header_pairs = pairs::decode(&raw_headers).map_err(|_| Status::ParseFailure)?;
    if !HeaderMap::pairs_fit(&header_pairs) {
        return super::maps::refuse_too_many(c, "proxy_send_local_response");
    }
    let state = c.data_mut();
    let stream = state.current_stream().ok_or(Status::NotFound)?;
    // The first local reply of a stream wins; a later one is accepted and dropped (Envoy).
    if stream.deferred.local_reply.is_some() {
        return Ok(());
    }
    stream.deferred.local_reply = Some(LocalReply {
        status,
        details: String::from_utf8_lossy(&details).into_owned(),
        body,
        headers: HeaderMap::from_pairs(&header_pairs),
        grpc_status: (grpc_status >= 0).then_some(grpc_status),
    });
    state.signal_current();
    Ok(())
}

/// `wasmgate_open_response`: `args` are the response headers in the header-map wire
/// encoding, `:status` among them (200 without). The stream is answered as by a local reply
/// with no body, and its response stays open.
fn open_response(state: &mut HostState, args: &[u8]) -> Result<(), Status> {
    let header_pairs = pairs::decode(args).map_err(|_| Status::ParseFailure)?;
    if !HeaderMap::pairs_fit(&header_pairs) {
        return Err(Status::BadArgument);
    }
    let mut headers = HeaderMap::from_pairs(&header_pairs);
    let status = match headers.get_str(":status") {
        Some(status) => status.parse().map_err(|_| Status::BadArgument)?,
        None => 200,
    };
    headers.remove(b":status");
    let stream = state.current_stream().ok_or(Status::NotFound)?;
    if stream.deferred.local_reply.is_some() || stream.response_open {
        return Err(Status::BadArgument);
    }
    stream.response_open = true;
    stream.deferred.local_reply = Some(LocalReply {
        status,
        details: "wasmgate_open_response".to_string(),
        body: Vec::new(),
        headers,
        grpc_status: None,
    });
    state.signal_current();
    Ok(())
}

fn call_foreign(
    c: &mut C<'_>,
    (np, nl, ap, al, ret_ptr, ret_len): (u32, u32, u32, u32, u32, u32),
) -> Result<Answer, Fault> {
    let name = String::from_utf8_lossy(&read(c, np, nl)?).into_owned();
    let args = read(c, ap, al)?;
    let state = c.data_mut();
    let result = match name.as_str() {
        "get_log_level" => Ok(state.log_level.raw().to_le_bytes().to_vec()),
        "set_global_max_requests_per_io_cycle" => Ok(Vec::new()),
        UNUSED_CALLBACKS => {
            state.unused_callbacks = String::from_utf8_lossy(&args)
                .split(',')
                .map(|name| name.trim().to_string())
                .filter(|name| !name.is_empty())
                .collect();
            Ok(Vec::new())
        }
        "inject_encoded_data_to_filter_chain" | "inject_encoded_data_to_filter_chain_on_header" => {
            let arguments = InjectArguments::decode(&args).ok_or(Status::ParseFailure)?;
            state
                .inject(&arguments.body, arguments.end_of_stream)
                .map(|()| Vec::new())
        }
        "wasmgate_open_response" => open_response(state, &args).map(|()| Vec::new()),
        _ => match state.foreign.get(&name).cloned() {
            Some(function) => {
                state.buffers.foreign_args = Some(args.clone());
                let result = function(&args);
                state.buffers.foreign_args = None;
                result
            }
            None => Err(Status::NotFound),
        },
    };
    let bytes = result.map_err(Fault::Status)?;
    Ok(Answer::new(bytes, ret_ptr, ret_len))
}
