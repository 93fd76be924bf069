//! The gRPC host calls: `proxy_grpc_call`, `proxy_grpc_stream`, `proxy_grpc_send`,
//! `proxy_grpc_close` and `proxy_grpc_cancel`, with the statuses Envoy's wasm host answers.
//!
//! The `service` argument is a cluster name or a serialized `GrpcService`
//! ([`ServiceArgument`]). An unknown cluster fails the call at once: PARSE_FAILURE for a
//! name, INTERNAL_FAILURE for a `GrpcService` (Envoy's client refuses it then). Malformed
//! metadata counts as none, as Envoy reads it. Which tokens each call accepts is the
//! table's ([`crate::grpc`]).

use wasmgate_abi::grpc::ServiceArgument;
use wasmgate_abi::{pairs, Status};
use wasmtime::{Caller, Linker};

use super::memory::{read, write_u32};
use super::{finish, Fault, HostResult};
use crate::callout::{GrpcCallout, GrpcStreamOpen, GrpcTarget};
use crate::grpc::{Closing, CALL_KIND, STREAM_KIND};
use crate::state::HostState;
use crate::stream::HeaderMap;

type C<'a> = Caller<'a, HostState>;

type Span = (u32, u32);

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_grpc_call",
        |mut c: C<'_>,
         sp: u32,
         sl: u32,
         np: u32,
         nl: u32,
         mp: u32,
         ml: u32,
         hp: u32,
         hl: u32,
         bp: u32,
         bl: u32,
         timeout: u32,
         ret: u32| {
            let target = [(sp, sl), (np, nl), (mp, ml), (hp, hl)];
            finish(grpc_call(&mut c, target, (bp, bl), timeout, ret))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_stream",
        |mut c: C<'_>,
         sp: u32,
         sl: u32,
         np: u32,
         nl: u32,
         mp: u32,
         ml: u32,
         hp: u32,
         hl: u32,
         ret: u32| {
            let target = [(sp, sl), (np, nl), (mp, ml), (hp, hl)];
            finish(grpc_stream(&mut c, target, ret))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_send",
        |mut c: C<'_>, token: u32, mp: u32, ml: u32, end: u32| {
            finish(grpc_send(&mut c, token, (mp, ml), end != 0))
        },
    )?;
    linker.func_wrap("env", "proxy_grpc_close", |mut c: C<'_>, token: u32| {
        finish(grpc_close(&mut c, token))
    })?;
    linker.func_wrap("env", "proxy_grpc_cancel", |mut c: C<'_>, token: u32| {
        finish(grpc_cancel(&mut c, token))
    })?;
    Ok(())
}

fn text(c: &mut C<'_>, (ptr, len): Span) -> Result<String, Fault> {
    Ok(String::from_utf8_lossy(&read(c, ptr, len)?).into_owned())
}

/// Where a call goes, and the status for an unknown cluster there.
fn target(
    c: &mut C<'_>,
    [service, name, method, metadata]: [Span; 4],
) -> Result<(GrpcTarget, Status), Fault> {
    let service = read(c, service.0, service.1)?;
    let name = text(c, name)?;
    let method = text(c, method)?;
    let metadata = read(c, metadata.0, metadata.1)?;
    let initial_metadata = pairs::decode(&metadata)
        .map(|p| HeaderMap::from_pairs(&p))
        .unwrap_or_default();
    let (cluster, authority, unknown) = match ServiceArgument::read(&service) {
        ServiceArgument::ClusterName(cluster) => (cluster, String::new(), Status::ParseFailure),
        ServiceArgument::Service(s) => (s.cluster_name, s.authority, Status::InternalFailure),
    };
    let authority = if authority.is_empty() {
        cluster.clone()
    } else {
        authority
    };
    let target = GrpcTarget {
        cluster,
        authority,
        service: name,
        method,
        initial_metadata,
    };
    Ok((target, unknown))
}

/// Registers a token of `kind`, hands the call to the embedder, writes the token back.
fn start(
    c: &mut C<'_>,
    kind: u32,
    ret: u32,
    unknown: Status,
    send: impl FnOnce(&mut HostState, u32) -> Result<(), Status>,
) -> HostResult {
    // The return slot is checked first, so a bad pointer starts nothing.
    write_u32(c, ret, 0)?;
    let state = c.data_mut();
    let token = state.token(kind);
    state.grpc.opened(token);
    if let Err(status) = send(state, token) {
        state.grpc.forget(token);
        return Err(match status {
            Status::BadArgument => unknown,
            other => other,
        }
        .into());
    }
    write_u32(c, ret, token)
}

fn grpc_call(
    c: &mut C<'_>,
    spans: [Span; 4],
    message: Span,
    timeout_ms: u32,
    ret: u32,
) -> HostResult {
    let (target, unknown) = target(c, spans)?;
    let message = read(c, message.0, message.1)?;
    start(c, CALL_KIND, ret, unknown, |state, token| {
        let call = GrpcCallout {
            token,
            context_id: state.current_context,
            target,
            message,
            timeout_ms,
        };
        state.callouts.grpc_call(call)
    })
}

fn grpc_stream(c: &mut C<'_>, spans: [Span; 4], ret: u32) -> HostResult {
    let (target, unknown) = target(c, spans)?;
    start(c, STREAM_KIND, ret, unknown, |state, token| {
        let open = GrpcStreamOpen {
            token,
            context_id: state.current_context,
            target,
        };
        state.callouts.grpc_stream(open)
    })
}

fn grpc_send(c: &mut C<'_>, token: u32, message: Span, end_of_stream: bool) -> HostResult {
    let message = read(c, message.0, message.1)?;
    let state = c.data_mut();
    if state.grpc.send(token, end_of_stream)? {
        state.callouts.grpc_send(token, message, end_of_stream);
    }
    Ok(())
}

fn grpc_close(c: &mut C<'_>, token: u32) -> HostResult {
    let state = c.data_mut();
    match state.grpc.close(token)? {
        Closing::Cancel => state.callouts.grpc_cancel(token),
        Closing::HalfClose => state.callouts.grpc_close(token),
        Closing::Nothing => {}
    }
    Ok(())
}

fn grpc_cancel(c: &mut C<'_>, token: u32) -> HostResult {
    let state = c.data_mut();
    if state.grpc.cancel(token)? {
        state.callouts.grpc_cancel(token);
    }
    Ok(())
}
