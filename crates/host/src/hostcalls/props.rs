//! `proxy_get_property` and `proxy_set_property`.

use wasmgate_abi::{path, Status};
use wasmtime::{Caller, Linker};

use super::memory::{link_answering, read, Answer};
use super::{finish, Fault, HostResult};
use crate::properties::{resolve, PropertyScope};
use crate::state::HostState;

type C<'a> = Caller<'a, HostState>;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    link_answering(linker, "proxy_get_property", get)?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: C<'_>, pp: u32, pl: u32, vp: u32, vl: u32| finish(set(&mut c, pp, pl, vp, vl)),
    )?;
    Ok(())
}

fn get(c: &mut C<'_>, (pp, pl, rp, rl): (u32, u32, u32, u32)) -> Result<Answer, Fault> {
    let raw = read(c, pp, pl)?;
    let segments = path::decode(&raw);
    let vm_memory = c
        .data()
        .memory
        .map(|m| m.data_size(&*c) as u64)
        .unwrap_or(0);
    let state = c.data();
    let scope = PropertyScope {
        stream: state.streams.get(&state.current_context),
        plugin_name: &state.plugin_name,
        root_id: &state.root_id,
        vm_id: &state.vm_id,
        vm_memory,
    };
    let value = resolve(&scope, &segments).ok_or(Status::NotFound)?;
    Ok(Answer::new(value, rp, rl))
}

fn set(c: &mut C<'_>, pp: u32, pl: u32, vp: u32, vl: u32) -> HostResult {
    let raw = read(c, pp, pl)?;
    let value = read(c, vp, vl)?;
    let key = path::encode(&path::decode(&raw));
    let state = c.data_mut();
    if key == b"wasm_need_rebuild" && value == b"true" {
        state.rebuild_requested = true;
    }
    match state.current_stream() {
        Some(stream) => {
            stream.properties.insert(key, value);
            Ok(())
        }
        // Root-context sets have no request to live on; accept them as Envoy does.
        None => Ok(()),
    }
}
