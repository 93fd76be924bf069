//! Safe access to a guest's linear memory from host functions: every pointer is checked,
//! and data returned to the guest is placed in memory the guest allocates itself
//! ([`link_answering`]).

use wasmgate_abi::Status;
use wasmtime::{Caller, Linker, WasmTyList};

use super::{finish, Fault};
use crate::state::HostState;

/// Copies `len` bytes at `ptr` out of guest memory.
pub(crate) fn read(
    caller: &mut Caller<'_, HostState>,
    ptr: u32,
    len: u32,
) -> Result<Vec<u8>, Fault> {
    let memory = caller.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    let data = memory.data(&*caller);
    let start = ptr as usize;
    let end = start
        .checked_add(len as usize)
        .ok_or(Status::InvalidMemoryAccess)?;
    data.get(start..end)
        .map(<[u8]>::to_vec)
        .ok_or(Fault::Status(Status::InvalidMemoryAccess))
}

/// Writes bytes at `ptr`.
pub(crate) fn write(
    caller: &mut Caller<'_, HostState>,
    ptr: u32,
    bytes: &[u8],
) -> Result<(), Fault> {
    let memory = caller.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    let data = memory.data_mut(&mut *caller);
    let start = ptr as usize;
    let end = start
        .checked_add(bytes.len())
        .ok_or(Status::InvalidMemoryAccess)?;
    data.get_mut(start..end)
        .ok_or(Fault::Status(Status::InvalidMemoryAccess))?
        .copy_from_slice(bytes);
    Ok(())
}

/// Writes a little-endian u32 at `ptr`.
pub(crate) fn write_u32(
    caller: &mut Caller<'_, HostState>,
    ptr: u32,
    value: u32,
) -> Result<(), Fault> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Writes a little-endian u64 at `ptr`.
pub(crate) fn write_u64(
    caller: &mut Caller<'_, HostState>,
    ptr: u32,
    value: u64,
) -> Result<(), Fault> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Bytes a host function hands back to the guest, and the guest's slots for their address
/// and length.
pub(crate) struct Answer {
    pub(crate) bytes: Vec<u8>,
    pub(crate) ret_ptr: u32,
    pub(crate) ret_len: u32,
}

impl Answer {
    pub(crate) fn new(bytes: Vec<u8>, ret_ptr: u32, ret_len: u32) -> Self {
        Answer {
            bytes,
            ret_ptr,
            ret_len,
        }
    }
}

/// Links `env.name`, a host function that answers with bytes in guest memory: `answer`
/// computes them (or a status), then they are placed in memory the guest's allocator gives.
/// The allocator is guest code, called from inside the guest's call, so this host function
/// is async (a guest call runs on a fiber, and a nested call needs one of its own).
pub(crate) fn link_answering<P>(
    linker: &mut Linker<HostState>,
    name: &str,
    answer: fn(&mut Caller<'_, HostState>, P) -> Result<Answer, Fault>,
) -> wasmtime::Result<()>
where
    P: WasmTyList + Send + 'static,
{
    linker.func_wrap_async(
        "env",
        name,
        move |mut c: Caller<'_, HostState>, params: P| {
            Box::new(async move {
                let result = match answer(&mut c, params) {
                    Ok(answer) => return_bytes(&mut c, answer).await,
                    Err(fault) => Err(fault),
                };
                finish(result)
            })
        },
    )?;
    Ok(())
}

/// Hands bytes to the guest: allocates with its allocator, copies them in, and writes the
/// address and length to the answer's slots. Empty data is returned as (0, 0).
async fn return_bytes(caller: &mut Caller<'_, HostState>, answer: Answer) -> Result<(), Fault> {
    let Answer {
        bytes,
        ret_ptr,
        ret_len,
    } = answer;
    // Check the return slots before allocating, so a bad pointer leaks nothing.
    check(caller, ret_ptr, 4)?;
    check(caller, ret_len, 4)?;
    let addr = if bytes.is_empty() {
        0
    } else {
        let addr = allocate(caller, bytes.len() as u32).await?;
        write(caller, addr, &bytes)?;
        addr
    };
    write_u32(caller, ret_ptr, addr)?;
    write_u32(caller, ret_len, bytes.len() as u32)
}

fn check(caller: &mut Caller<'_, HostState>, ptr: u32, len: usize) -> Result<(), Fault> {
    let memory = caller.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    let size = memory.data_size(&*caller);
    match (ptr as usize).checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Fault::Status(Status::InvalidMemoryAccess)),
    }
}

async fn allocate(caller: &mut Caller<'_, HostState>, size: u32) -> Result<u32, Fault> {
    let alloc = caller.data().alloc.clone().ok_or(Status::InternalFailure)?;
    let addr = alloc
        .call_async(&mut *caller, size)
        .await
        .map_err(Fault::Trap)?;
    if addr == 0 {
        return Err(Fault::Status(Status::InternalFailure));
    }
    Ok(addr)
}
