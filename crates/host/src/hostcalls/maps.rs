//! Header-map host functions: request and response headers and trailers of the current
//! stream, the headers and trailers of the HTTP callout being answered, and the metadata of
//! the gRPC stream being answered (in its metadata callbacks only, as in Envoy).
//!
//! A stream's header maps are reachable only while Envoy would hand them to the filter (see
//! [`MapScope`]). Out of reach, reads of a value and all changes fail with BadArgument, the
//! pairs come back empty and the size fails, as in Envoy. Higress's Envoy keeps serving
//! reads of the request headers for the rest of the stream (its `getConstMap` falls back to
//! the stream's request headers), so `0_2_100` plugins read them, read-only, as there.

use wasmgate_abi::{pairs, AbiVersion, MapType, Status};
use wasmtime::{Caller, Linker};

use super::memory::{link_answering, read, write_u32, Answer};
use super::{finish, refuse_once, Fault, HostResult};
use crate::state::HostState;
use crate::stream::{HeaderMap, HttpStream, MapScope, MAX_HEADER_BYTES, MAX_HEADER_PAIRS};

type C<'a> = Caller<'a, HostState>;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_header_map_size",
        |mut c: C<'_>, map: u32, ret: u32| {
            // Envoy sizes the writable map: not reachable in `on_log` either.
            let call = "proxy_get_header_map_size";
            let size = with_map(&mut c, call, map, Access::Size, |m| {
                Ok(m.encode().len() as u32)
            });
            finish(size.and_then(|size| write_u32(&mut c, ret, size)))
        },
    )?;
    link_answering(linker, "proxy_get_header_map_pairs", get_pairs)?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: C<'_>, map: u32, p: u32, l: u32| finish(set_pairs(&mut c, map, p, l)),
    )?;
    link_answering(linker, "proxy_get_header_map_value", get_value)?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut c: C<'_>, map: u32, kp: u32, kl: u32, vp: u32, vl: u32| {
            let call = "proxy_add_header_map_value";
            finish(edit(
                &mut c,
                call,
                map,
                (kp, kl),
                Some((vp, vl)),
                HeaderMap::add,
            ))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut c: C<'_>, map: u32, kp: u32, kl: u32, vp: u32, vl: u32| {
            finish(edit(
                &mut c,
                "proxy_replace_header_map_value",
                map,
                (kp, kl),
                Some((vp, vl)),
                HeaderMap::replace,
            ))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: C<'_>, map: u32, kp: u32, kl: u32| {
            let call = "proxy_remove_header_map_value";
            finish(edit(&mut c, call, map, (kp, kl), None, |m, k, _| {
                m.remove(k)
            }))
        },
    )?;
    Ok(())
}

/// What a host call does with a map: Envoy serves reads and changes from different views
/// (and sizes the writable one).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Size,
    Change,
}

/// Runs `f` on the map a call names, or fails with BadArgument when the map is unknown or
/// out of reach (the first such call of a VM is reported: Envoy refuses it silently, and it
/// is the usual cause of a header that never arrives).
fn with_map<T>(
    c: &mut C<'_>,
    call: &'static str,
    map: u32,
    access: Access,
    f: impl FnOnce(&mut HeaderMap) -> Result<T, super::Fault>,
) -> Result<T, super::Fault> {
    let map = MapType::from_raw(map).ok_or(Status::BadArgument)?;
    let state = c.data_mut();
    let higress = state.abi == AbiVersion::V0_2_100;
    let target = match map {
        MapType::HttpCallResponseHeaders => state.buffers.callout.as_mut().map(|r| &mut r.headers),
        MapType::HttpCallResponseTrailers => {
            state.buffers.callout.as_mut().map(|r| &mut r.trailers)
        }
        MapType::GrpcCallInitialMetadata => state.buffers.grpc_initial_metadata.as_mut(),
        MapType::GrpcCallTrailingMetadata => state.buffers.grpc_trailing_metadata.as_mut(),
        stream_map => match state.streams.get_mut(&state.current_context) {
            Some(s) if reachable(s.maps, stream_map, access, higress) => Some(match stream_map {
                MapType::HttpRequestHeaders => {
                    if access == Access::Change {
                        s.note_request_headers_changed();
                    }
                    &mut s.request_headers
                }
                MapType::HttpRequestTrailers => &mut s.request_trailers,
                MapType::HttpResponseHeaders => &mut s.response_headers,
                _ => &mut s.response_trailers,
            }),
            Some(s) => {
                if !state.reported_out_of_reach {
                    state.reported_out_of_reach = true;
                    report_out_of_reach(&state.plugin_name, s, call, stream_map);
                }
                None
            }
            None => None,
        },
    };
    f(target.ok_or(Status::BadArgument)?)
}

/// One line for the operator: which call reached which map too late.
fn report_out_of_reach(plugin: &str, stream: &HttpStream, call: &str, map: MapType) {
    let request_id = stream
        .request_headers
        .get_str("x-request-id")
        .unwrap_or("-");
    let (map, when) = match map {
        MapType::HttpRequestHeaders => (
            "request headers",
            "in the request-headers phase or while it holds the request",
        ),
        _ => (
            "response headers",
            "in the response-headers phase or while it holds the response",
        ),
    };
    tracing::warn!(
        plugin = %plugin,
        request_id = %request_id,
        "{call} on the {map} was refused (BadArgument, as Envoy does): a plugin reaches them only {when}, and reads them in on_log; later refusals of this VM are not reported"
    );
}

/// Whether a stream's map is the plugin's to use now (trailers always are).
fn reachable(scope: MapScope, map: MapType, access: Access, higress: bool) -> bool {
    let read = access == Access::Read;
    match map {
        MapType::HttpRequestHeaders => {
            scope.request_headers || (read && (scope.logging || higress))
        }
        MapType::HttpResponseHeaders => scope.response_headers || (read && scope.logging),
        _ => true,
    }
}

/// The pairs of a map; a map out of reach gives no pairs (Envoy answers Ok, empty).
fn get_pairs(c: &mut C<'_>, (map, rp, rl): (u32, u32, u32)) -> Result<Answer, Fault> {
    if MapType::from_raw(map).is_none() {
        return Err(Status::BadArgument.into());
    }
    let call = "proxy_get_header_map_pairs";
    let bytes =
        with_map(c, call, map, Access::Read, |m| Ok(m.encode_nonempty())).unwrap_or_default();
    Ok(Answer::new(bytes, rp, rl))
}

fn set_pairs(c: &mut C<'_>, map: u32, ptr: u32, len: u32) -> HostResult {
    let raw = read(c, ptr, len)?;
    let decoded = pairs::decode(&raw).map_err(|_| Status::ParseFailure)?;
    if !HeaderMap::pairs_fit(&decoded) {
        return refuse_too_many(c, "proxy_set_header_map_pairs");
    }
    with_map(c, "proxy_set_header_map_pairs", map, Access::Change, |m| {
        *m = HeaderMap::from_pairs(&decoded);
        Ok(())
    })
}

fn get_value(
    c: &mut C<'_>,
    (map, kp, kl, rp, rl): (u32, u32, u32, u32, u32),
) -> Result<Answer, Fault> {
    let key = read(c, kp, kl)?;
    let legacy = c.data().abi == AbiVersion::V0_1_0;
    let call = "proxy_get_header_map_value";
    // Envoy answers the first value of a repeated name (its properties join them).
    let value = with_map(c, call, map, Access::Read, |m| {
        Ok(m.first(&key).map(<[u8]>::to_vec))
    })?;
    match value {
        Some(value) => Ok(Answer::new(value, rp, rl)),
        None if legacy => Ok(Answer::new(Vec::new(), rp, rl)),
        None => Err(Status::NotFound.into()),
    }
}

fn edit(
    c: &mut C<'_>,
    call: &'static str,
    map: u32,
    key: (u32, u32),
    value: Option<(u32, u32)>,
    op: impl FnOnce(&mut HeaderMap, &[u8], &[u8]),
) -> HostResult {
    let key = read(c, key.0, key.1)?;
    let grows = value.is_some();
    let value = match value {
        Some((p, l)) => read(c, p, l)?,
        None => Vec::new(),
    };
    let mut full = false;
    let result = with_map(c, call, map, Access::Change, |m| {
        if grows && !m.fits(key.len(), value.len()) {
            full = true;
            return Err(Status::BadArgument.into());
        }
        op(m, &key, &value);
        Ok(())
    });
    if full {
        return refuse_too_many(c, call);
    }
    result
}

/// Refuses a change that would make a header map larger than a plugin may make it
/// (BadArgument); the first refusal of a VM is reported.
pub(crate) fn refuse_too_many(c: &mut C<'_>, call: &str) -> HostResult {
    refuse_once(
        c.data_mut(),
        |s| &mut s.reported_header_limit,
        format_args!(
            "{call} refused (BadArgument): a plugin may make a header map of at most {MAX_HEADER_PAIRS} headers and {} KiB",
            MAX_HEADER_BYTES >> 10
        ),
    )
}
