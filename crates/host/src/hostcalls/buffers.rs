//! Buffer host functions: request and response bodies of the current stream, the callout,
//! gRPC message, Redis and foreign-function buffers of the callback being run, and the
//! configurations.

use wasmgate_abi::{BufferType, Status};
use wasmtime::{Caller, Linker};

use super::memory::{link_answering, read, write_u32, Answer};
use super::{finish, refuse_once, Fault, HostResult};
use crate::state::HostState;
use crate::stream::MAX_BODY_BYTES;

type C<'a> = Caller<'a, HostState>;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    link_answering(linker, "proxy_get_buffer_bytes", get_bytes)?;
    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut c: C<'_>, kind: u32, start: u32, size: u32, p: u32, l: u32| {
            finish(set_bytes(&mut c, kind, start, size, p, l))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_status",
        |mut c: C<'_>, kind: u32, ret_size: u32, ret_flags: u32| {
            let len = buffer(&mut c, kind).map(|b| b.len() as u32);
            finish(len.and_then(|len| {
                write_u32(&mut c, ret_size, len)?;
                write_u32(&mut c, ret_flags, 0)
            }))
        },
    )?;
    link_answering(linker, "proxy_get_configuration", |c, (rp, rl)| {
        Ok(Answer::new(c.data().plugin_config.clone(), rp, rl))
    })?;
    Ok(())
}

/// A copy of the buffer a call names, if it is readable now.
fn buffer(c: &mut C<'_>, kind: u32) -> Result<Vec<u8>, Fault> {
    let kind = BufferType::from_raw(kind).ok_or(Status::BadArgument)?;
    let state = c.data_mut();
    let bytes = match kind {
        BufferType::HttpRequestBody => state.current_stream().map(|s| s.request_body.clone()),
        BufferType::HttpResponseBody => state.current_stream().map(|s| s.response_body.clone()),
        BufferType::HttpCallResponseBody => state.buffers.callout.as_ref().map(|r| r.body.clone()),
        BufferType::VmConfiguration => Some(state.vm_config.clone()),
        BufferType::PluginConfiguration => Some(state.plugin_config.clone()),
        BufferType::CallData => state.buffers.foreign_args.clone(),
        BufferType::RedisCallResponse => state.buffers.redis.clone(),
        BufferType::GrpcReceiveBuffer => state.buffers.grpc_message.clone(),
        BufferType::DownstreamData | BufferType::UpstreamData => None,
    };
    bytes.ok_or(Fault::Status(Status::NotFound))
}

fn get_bytes(
    c: &mut C<'_>,
    (kind, start, max, rp, rl): (u32, u32, u32, u32, u32),
) -> Result<Answer, Fault> {
    let mut bytes = buffer(c, kind)?;
    let start = (start as usize).min(bytes.len());
    let end = start.saturating_add(max as usize).min(bytes.len());
    bytes.truncate(end);
    bytes.drain(..start);
    Ok(Answer::new(bytes, rp, rl))
}

fn set_bytes(c: &mut C<'_>, kind: u32, start: u32, size: u32, ptr: u32, len: u32) -> HostResult {
    let data = read(c, ptr, len)?;
    let kind = BufferType::from_raw(kind).ok_or(Status::BadArgument)?;
    let stream = c.data_mut().current_stream().ok_or(Status::NotFound)?;
    let body = match kind {
        BufferType::HttpRequestBody => &mut stream.request_body,
        BufferType::HttpResponseBody => &mut stream.response_body,
        _ => return Err(Status::BadArgument.into()),
    };
    if spliced_len(body.len(), start as usize, size as usize, data.len()) > MAX_BODY_BYTES {
        return refuse_body_growth(c);
    }
    splice(body, start as usize, size as usize, &data);
    Ok(())
}

/// The length of a body of `len` bytes after [`splice`].
fn spliced_len(len: usize, start: usize, size: usize, added: usize) -> usize {
    let removed = if start >= len {
        0
    } else {
        start.saturating_add(size).min(len) - start
    };
    (len - removed).saturating_add(added)
}

/// Refuses an edit that would make a body larger than [`MAX_BODY_BYTES`] (BadArgument); the
/// first refusal of a VM is reported.
fn refuse_body_growth(c: &mut C<'_>) -> HostResult {
    refuse_once(
        c.data_mut(),
        |s| &mut s.reported_body_limit,
        format_args!(
            "proxy_set_buffer_bytes refused (BadArgument): a plugin may make a body of at most {} MiB",
            MAX_BODY_BYTES >> 20
        ),
    )
}

/// The ABI's buffer edit: `start == 0 && size == 0` prepends, `start >= len` appends,
/// otherwise `[start, start + size)` is replaced.
pub(crate) fn splice(body: &mut Vec<u8>, start: usize, size: usize, data: &[u8]) {
    if start >= body.len() {
        body.extend_from_slice(data);
    } else {
        let end = start.saturating_add(size).min(body.len());
        body.splice(start..end, data.iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::{splice, spliced_len};

    #[test]
    fn splice_prepends_appends_and_replaces() {
        let mut body = b"world".to_vec();
        splice(&mut body, 0, 0, b"hello ");
        assert_eq!(body, b"hello world");
        splice(&mut body, 11, 0, b"!");
        assert_eq!(body, b"hello world!");
        splice(&mut body, 0, 5, b"HELLO");
        assert_eq!(body, b"HELLO world!");
        splice(&mut body, 0, 100, b"all");
        assert_eq!(body, b"all");
    }

    #[test]
    fn spliced_len_is_the_length_splice_leaves() {
        for (start, size, added) in [(0, 0, 3), (2, 1, 4), (9, 0, 2), (1, 100, 0), (4, 1, 1)] {
            let mut body = b"hello".to_vec();
            let expected = spliced_len(body.len(), start, size, added);
            splice(&mut body, start, size, &vec![b'x'; added]);
            assert_eq!(
                body.len(),
                expected,
                "start {start} size {size} added {added}"
            );
        }
    }
}
