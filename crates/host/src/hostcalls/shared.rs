//! Shared data, shared queues and metrics host functions.

use wasmgate_abi::{MetricType, Status};
use wasmtime::{Caller, Linker};

use super::memory::{link_answering, read, write_u32, write_u64, Answer};
use super::{finish, Fault, HostResult};
use crate::state::HostState;

type C<'a> = Caller<'a, HostState>;

pub(crate) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    link_answering(linker, "proxy_get_shared_data", get_data)?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: C<'_>, kp: u32, kl: u32, vp: u32, vl: u32, cas: u32| {
            let result = (|| {
                let key = read(&mut c, kp, kl)?;
                let value = read(&mut c, vp, vl)?;
                let state = c.data();
                match state.shared.set(&state.vm_id, &key, &value, cas) {
                    Status::Ok => Ok(()),
                    status => Err(Fault::Status(status)),
                }
            })();
            finish(result)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut c: C<'_>, np: u32, nl: u32, ret: u32| {
            let result = (|| {
                let name = read(&mut c, np, nl)?;
                let state = c.data();
                let id = state
                    .shared
                    .register_queue(&state.vm_id, &name, &state.queue_inbox);
                write_u32(&mut c, ret, id)
            })();
            finish(result)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut c: C<'_>, vp: u32, vl: u32, np: u32, nl: u32, ret: u32| {
            let result = (|| {
                let vm_id = read(&mut c, vp, vl)?;
                let name = read(&mut c, np, nl)?;
                let vm_id = String::from_utf8_lossy(&vm_id).into_owned();
                let id = c
                    .data()
                    .shared
                    .resolve_queue(&vm_id, &name)
                    .ok_or(Status::NotFound)?;
                write_u32(&mut c, ret, id)
            })();
            finish(result)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |mut c: C<'_>, id: u32, vp: u32, vl: u32| {
            let result = (|| {
                let value = read(&mut c, vp, vl)?;
                match c.data().shared.enqueue(id, &value) {
                    Status::Ok => Ok(()),
                    status => Err(Fault::Status(status)),
                }
            })();
            finish(result)
        },
    )?;
    link_answering(linker, "proxy_dequeue_shared_queue", |c, (id, rp, rl)| {
        let value = c.data().shared.dequeue(id).map_err(Fault::Status)?;
        Ok(Answer::new(value, rp, rl))
    })?;
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: C<'_>, kind: u32, np: u32, nl: u32, ret: u32| {
            let result = (|| {
                let kind = MetricType::from_raw(kind).ok_or(Status::BadArgument)?;
                let name = read(&mut c, np, nl)?;
                let id = c
                    .data()
                    .shared
                    .define_metric(kind, &String::from_utf8_lossy(&name));
                write_u32(&mut c, ret, id)
            })();
            finish(result)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |c: C<'_>, id: u32, delta: i64| finish(status(c.data().shared.increment_metric(id, delta))),
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |c: C<'_>, id: u32, value: u64| finish(status(c.data().shared.record_metric(id, value))),
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_metric",
        |mut c: C<'_>, id: u32, ret: u32| {
            let value = c
                .data()
                .shared
                .metric_value(id)
                .ok_or(Fault::Status(Status::NotFound));
            finish(value.and_then(|v| write_u64(&mut c, ret, v as u64)))
        },
    )?;
    Ok(())
}

fn status(status: Status) -> HostResult {
    match status {
        Status::Ok => Ok(()),
        other => Err(Fault::Status(other)),
    }
}

fn get_data(
    c: &mut C<'_>,
    (kp, kl, rp, rl, rcas): (u32, u32, u32, u32, u32),
) -> Result<Answer, Fault> {
    let key = read(c, kp, kl)?;
    let state = c.data();
    let (value, cas) = state
        .shared
        .get(&state.vm_id, &key)
        .ok_or(Status::NotFound)?;
    write_u32(c, rcas, cas)?;
    Ok(Answer::new(value, rp, rl))
}
