//! The WASI sandbox of a plugin. wasmtime-wasi provides all of preview 1 (clocks, random,
//! args, environment, `proc_exit`, …); this module replaces its descriptor and file
//! functions, which would block on an async runtime, with the sandbox a gateway plugin
//! has: no preopened directories, an empty stdin, stdout and stderr going to the plugin's
//! log (info and error), and `poll_oneoff` answering every subscription at once (a
//! plugin may not sleep on a gateway worker). Registered under `wasi_snapshot_preview1`
//! and `wasi_unstable`.

use wasmgate_abi::LogLevel;
use wasmtime::{Caller, Linker};

use super::memory::{read, write, write_u32};
use super::Fault;
use crate::state::HostState;

type C<'a> = Caller<'a, HostState>;

const SUCCESS: i32 = 0;
const BADF: i32 = 8;
const FAULT: i32 = 21;
const INVAL: i32 = 28;
const NOTDIR: i32 = 54;
const NOTSUP: i32 = 58;
const SPIPE: i32 = 70;
const CHARACTER_DEVICE: u8 = 2;

/// Every WASI preview 1 function, all linked.
pub(crate) const WASI_FUNCTIONS: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_allocate",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_renumber",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "proc_raise",
    "sched_yield",
    "random_get",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

fn is_stdio(fd: u32) -> bool {
    fd <= 2
}

/// 0 for stdio, BADF for any other descriptor.
fn stdio_or_badf(fd: u32, on_stdio: i32) -> i32 {
    if is_stdio(fd) {
        on_stdio
    } else {
        BADF
    }
}

fn errno(result: Result<i32, Fault>) -> wasmtime::Result<i32> {
    match result {
        Ok(code) => Ok(code),
        Err(Fault::Status(_)) => Ok(FAULT),
        Err(Fault::Trap(trap)) => Err(trap),
    }
}

pub(crate) fn add_sandboxed_stdio(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    for module in ["wasi_snapshot_preview1", "wasi_unstable"] {
        add_module(linker, module)?;
    }
    Ok(())
}

fn add_module(linker: &mut Linker<HostState>, m: &str) -> wasmtime::Result<()> {
    linker.func_wrap(
        m,
        "fd_write",
        |mut c: C<'_>, fd: u32, iovs: u32, n: u32, ret: u32| {
            errno(fd_write(&mut c, fd, iovs, n, ret))
        },
    )?;
    linker.func_wrap(
        m,
        "fd_read",
        |mut c: C<'_>, fd: u32, _iovs: u32, _n: u32, ret: u32| {
            // stdin is empty: every read is at its end.
            errno(if fd == 0 {
                write_u32(&mut c, ret, 0).map(|()| SUCCESS)
            } else {
                Ok(BADF)
            })
        },
    )?;
    linker.func_wrap(
        m,
        "fd_pread",
        |_: C<'_>, fd: u32, _: u32, _: u32, _: u64, _: u32| Ok(stdio_or_badf(fd, SPIPE)),
    )?;
    linker.func_wrap(
        m,
        "fd_pwrite",
        |_: C<'_>, fd: u32, _: u32, _: u32, _: u64, _: u32| Ok(stdio_or_badf(fd, SPIPE)),
    )?;
    linker.func_wrap(m, "fd_seek", |_: C<'_>, fd: u32, _: i64, _: u32, _: u32| {
        Ok(stdio_or_badf(fd, SPIPE))
    })?;
    linker.func_wrap(m, "fd_close", |_: C<'_>, fd: u32| {
        Ok(stdio_or_badf(fd, SUCCESS))
    })?;
    linker.func_wrap(m, "fd_sync", |_: C<'_>, fd: u32| {
        Ok(stdio_or_badf(fd, SUCCESS))
    })?;
    linker.func_wrap(m, "fd_datasync", |_: C<'_>, fd: u32| {
        Ok(stdio_or_badf(fd, SUCCESS))
    })?;
    linker.func_wrap(
        m,
        "fd_advise",
        |_: C<'_>, fd: u32, _: u64, _: u64, _: u32| Ok(stdio_or_badf(fd, SPIPE)),
    )?;
    linker.func_wrap(m, "fd_filestat_set_size", |_: C<'_>, fd: u32, _: u64| {
        Ok(stdio_or_badf(fd, INVAL))
    })?;
    linker.func_wrap(
        m,
        "fd_filestat_set_times",
        |_: C<'_>, fd: u32, _: u64, _: u64, _: u32| Ok(stdio_or_badf(fd, NOTSUP)),
    )?;
    linker.func_wrap(
        m,
        "fd_readdir",
        |_: C<'_>, fd: u32, _: u32, _: u32, _: u64, _: u32| Ok(stdio_or_badf(fd, NOTDIR)),
    )?;
    linker.func_wrap(m, "fd_renumber", |_: C<'_>, from: u32, to: u32| {
        Ok(if is_stdio(from) && is_stdio(to) {
            NOTSUP
        } else {
            BADF
        })
    })?;
    linker.func_wrap(m, "fd_fdstat_get", |mut c: C<'_>, fd: u32, buf: u32| {
        if !is_stdio(fd) {
            return Ok(BADF);
        }
        let mut stat = [0u8; 24];
        stat[0] = CHARACTER_DEVICE;
        stat[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        stat[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        errno(write(&mut c, buf, &stat).map(|()| SUCCESS))
    })?;
    if m == "wasi_snapshot_preview1" {
        linker.func_wrap(m, "fd_filestat_get", |mut c: C<'_>, fd: u32, buf: u32| {
            if !is_stdio(fd) {
                return Ok(BADF);
            }
            let mut stat = [0u8; 64];
            stat[16] = CHARACTER_DEVICE;
            errno(write(&mut c, buf, &stat).map(|()| SUCCESS))
        })?;
    } else {
        // wasi_unstable's filestat has a 32-bit link count: 56 bytes, the type at 16 too.
        linker.func_wrap(m, "fd_filestat_get", |mut c: C<'_>, fd: u32, buf: u32| {
            if !is_stdio(fd) {
                return Ok(BADF);
            }
            let mut stat = [0u8; 56];
            stat[16] = CHARACTER_DEVICE;
            errno(write(&mut c, buf, &stat).map(|()| SUCCESS))
        })?;
    }
    add_path_functions(linker, m)?;
    linker.func_wrap(
        m,
        "poll_oneoff",
        |mut c: C<'_>, input: u32, output: u32, n: u32, ret: u32| {
            errno(poll_oneoff(&mut c, input, output, n, ret))
        },
    )?;
    Ok(())
}

/// With no preopened directory every path call names a descriptor that is not a directory.
fn add_path_functions(linker: &mut Linker<HostState>, m: &str) -> wasmtime::Result<()> {
    let none = |fd: u32| Ok(stdio_or_badf(fd, NOTDIR));
    linker.func_wrap(
        m,
        "path_create_directory",
        move |_: C<'_>, fd: u32, _: u32, _: u32| none(fd),
    )?;
    linker.func_wrap(
        m,
        "path_filestat_get",
        move |_: C<'_>, fd: u32, _: u32, _: u32, _: u32, _: u32| none(fd),
    )?;
    linker.func_wrap(
        m,
        "path_filestat_set_times",
        move |_: C<'_>, fd: u32, _: u32, _: u32, _: u32, _: u64, _: u64, _: u32| none(fd),
    )?;
    linker.func_wrap(
        m,
        "path_link",
        move |_: C<'_>, fd: u32, _: u32, _: u32, _: u32, _: u32, _: u32, _: u32| none(fd),
    )?;
    linker.func_wrap(
        m,
        "path_open",
        move |_: C<'_>, fd: u32, _: u32, _: u32, _: u32, _: u32, _: u64, _: u64, _: u32, _: u32| {
            none(fd)
        },
    )?;
    linker.func_wrap(
        m,
        "path_readlink",
        move |_: C<'_>, fd: u32, _: u32, _: u32, _: u32, _: u32, _: u32| none(fd),
    )?;
    linker.func_wrap(
        m,
        "path_remove_directory",
        move |_: C<'_>, fd: u32, _: u32, _: u32| none(fd),
    )?;
    linker.func_wrap(
        m,
        "path_rename",
        move |_: C<'_>, fd: u32, _: u32, _: u32, _: u32, _: u32, _: u32| none(fd),
    )?;
    linker.func_wrap(
        m,
        "path_symlink",
        move |_: C<'_>, _: u32, _: u32, fd: u32, _: u32, _: u32| none(fd),
    )?;
    linker.func_wrap(
        m,
        "path_unlink_file",
        move |_: C<'_>, fd: u32, _: u32, _: u32| none(fd),
    )?;
    Ok(())
}

fn fd_write(c: &mut C<'_>, fd: u32, iovs: u32, n: u32, ret: u32) -> Result<i32, Fault> {
    let level = match fd {
        1 => LogLevel::Info,
        2 => LogLevel::Error,
        0 => return Ok(BADF),
        _ => return Ok(BADF),
    };
    let table = read(
        c,
        iovs,
        n.checked_mul(8)
            .ok_or(wasmgate_abi::Status::InvalidMemoryAccess)?,
    )?;
    let mut text = Vec::new();
    for iov in table.chunks_exact(8) {
        let ptr = u32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
        let len = u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
        text.extend_from_slice(&read(c, ptr, len)?);
    }
    let written = text.len() as u32;
    let message = String::from_utf8_lossy(&text);
    let message = message.trim_end_matches('\n');
    if !message.is_empty() {
        c.data().log(level, capped(message));
    }
    write_u32(c, ret, written)?;
    Ok(SUCCESS)
}

/// The longest stdout/stderr write that becomes one log line; the rest is cut.
const MAX_STDIO_LINE: usize = 4096;

/// A stdout/stderr write as one log line, cut at [`MAX_STDIO_LINE`] bytes.
fn capped(message: &str) -> String {
    if message.len() <= MAX_STDIO_LINE {
        return message.to_string();
    }
    let mut cut = MAX_STDIO_LINE;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}… ({} more bytes cut)",
        &message[..cut],
        message.len() - cut
    )
}

/// Every subscription is answered at once: clocks as expired, descriptors as ready.
fn poll_oneoff(c: &mut C<'_>, input: u32, output: u32, n: u32, ret: u32) -> Result<i32, Fault> {
    if n == 0 {
        return Ok(INVAL);
    }
    let subs = read(
        c,
        input,
        n.checked_mul(48)
            .ok_or(wasmgate_abi::Status::InvalidMemoryAccess)?,
    )?;
    let mut events = Vec::with_capacity(n as usize * 32);
    for sub in subs.chunks_exact(48) {
        let mut event = [0u8; 32];
        event[0..8].copy_from_slice(&sub[0..8]);
        event[10] = sub[8];
        events.extend_from_slice(&event);
    }
    write(c, output, &events)?;
    write_u32(c, ret, n)?;
    Ok(SUCCESS)
}
