//! Outbound calls: `proxy_http_call`, Higress's Redis calls, `proxy_get_status` (of the
//! callout being answered), and Higress's upstream-host functions and data injection. The
//! gRPC calls are in `grpc`.

use wasmgate_abi::{pairs, Status};
use wasmtime::{Caller, Linker};

use super::memory::{link_answering, read, write_u32, Answer};
use super::{finish, Fault, HostResult};
use crate::callout::{HttpCallout, RedisCallout, RedisInit};
use crate::state::HostState;
use crate::stream::HeaderMap;

type C<'a> = Caller<'a, HostState>;

const HTTP_KIND: u32 = 0;
const REDIS_KIND: u32 = 3;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut c: C<'_>,
         up: u32,
         ul: u32,
         hp: u32,
         hl: u32,
         bp: u32,
         bl: u32,
         tp: u32,
         tl: u32,
         timeout: u32,
         ret: u32| {
            finish(http_call(
                &mut c,
                (up, ul),
                (hp, hl),
                (bp, bl),
                (tp, tl),
                timeout,
                ret,
            ))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_redis_init",
        |mut c: C<'_>, up: u32, ul: u32, np: u32, nl: u32, pp: u32, pl: u32, timeout: u32| {
            finish(redis_init(&mut c, (up, ul), (np, nl), (pp, pl), timeout))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_redis_call",
        |mut c: C<'_>, up: u32, ul: u32, qp: u32, ql: u32, ret: u32| {
            finish(redis_call(&mut c, (up, ul), (qp, ql), ret))
        },
    )?;
    link_answering(linker, "proxy_get_status", |c, (rc, rp, rl)| {
        // In `proxy_on_grpc_close`, its status; else the status of the HTTP callout
        // being answered: 0 with a response, 11 (reset) without.
        let buffers = &c.data().buffers;
        let (code, message) = match &buffers.grpc_status {
            Some((code, message)) => (*code, message.clone().into_bytes()),
            None if buffers.callout.is_some() => (0, Vec::new()),
            None => (11, Vec::new()),
        };
        write_u32(c, rc, code)?;
        Ok(Answer::new(message, rp, rl))
    })?;
    linker.func_wrap(
        "env",
        "proxy_inject_encoded_data_to_filter_chain",
        |mut c: C<'_>, dp: u32, dl: u32, end: u32| {
            let result =
                read(&mut c, dp, dl).and_then(|data| Ok(c.data_mut().inject(&data, end != 0)?));
            finish(result)
        },
    )?;
    link_answering(linker, "proxy_get_upstream_hosts", |c, (rp, rl)| {
        Ok(Answer::new(pairs::encode(&c.data().upstream_hosts), rp, rl))
    })?;
    linker.func_wrap(
        "env",
        "proxy_set_upstream_override_host",
        |mut c: C<'_>, ap: u32, al: u32| {
            let result = read(&mut c, ap, al).and_then(|addr| {
                let stream = c.data_mut().current_stream().ok_or(Status::NotFound)?;
                stream.upstream_override_host = Some(String::from_utf8_lossy(&addr).into_owned());
                Ok(())
            });
            finish(result)
        },
    )?;
    Ok(())
}

fn text(c: &mut C<'_>, (ptr, len): (u32, u32)) -> Result<String, Fault> {
    Ok(String::from_utf8_lossy(&read(c, ptr, len)?).into_owned())
}

fn header_map(c: &mut C<'_>, (ptr, len): (u32, u32)) -> Result<HeaderMap, Fault> {
    let raw = read(c, ptr, len)?;
    let decoded = pairs::decode(&raw).map_err(|_| Status::ParseFailure)?;
    Ok(HeaderMap::from_pairs(&decoded))
}

fn http_call(
    c: &mut C<'_>,
    upstream: (u32, u32),
    headers: (u32, u32),
    body: (u32, u32),
    trailers: (u32, u32),
    timeout_ms: u32,
    ret: u32,
) -> HostResult {
    let upstream = text(c, upstream)?;
    let headers = header_map(c, headers)?;
    let body = read(c, body.0, body.1)?;
    let trailers = header_map(c, trailers)?;
    for required in [":method", ":path", ":authority"] {
        if headers.get(required.as_bytes()).is_none() {
            return Err(Status::BadArgument.into());
        }
    }
    let state = c.data_mut();
    let token = state.token(HTTP_KIND);
    let call = HttpCallout {
        token,
        context_id: state.current_context,
        upstream,
        headers,
        body,
        trailers,
        timeout_ms,
    };
    state.callouts.http_call(call).map_err(Fault::Status)?;
    write_u32(c, ret, token)
}

fn redis_init(
    c: &mut C<'_>,
    upstream: (u32, u32),
    user: (u32, u32),
    pass: (u32, u32),
    timeout_ms: u32,
) -> HostResult {
    let init = RedisInit {
        upstream: text(c, upstream)?,
        username: text(c, user)?,
        password: text(c, pass)?,
        timeout_ms,
    };
    match c.data_mut().callouts.redis_init(init) {
        Status::Ok => Ok(()),
        status => Err(status.into()),
    }
}

fn redis_call(c: &mut C<'_>, upstream: (u32, u32), query: (u32, u32), ret: u32) -> HostResult {
    let upstream = text(c, upstream)?;
    let query = read(c, query.0, query.1)?;
    let state = c.data_mut();
    let token = state.token(REDIS_KIND);
    let call = RedisCallout {
        token,
        context_id: state.current_context,
        upstream,
        query,
    };
    state.callouts.redis_call(call).map_err(Fault::Status)?;
    write_u32(c, ret, token)
}
