//! The host's ABI: a real VM (the driver module of `wasmgate_fuzz::driver`) calls host
//! functions with fuzzer-chosen indexes, pointers, sizes and contents of its memory, in
//! the root context and in every phase of a stream. The host must never panic (a panic
//! aborts the fuzzer): it answers with statuses, or ends the guest's call with a trap.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wasmgate_fuzz::driver::{module_text, HEADER, OP_SIZE, PROGRAM_AT};
use wasmgate_host::block_on;
use wasmgate_host::{
    HeaderMap, NoCallouts, PluginModule, PluginVm, Runtime, RuntimeConfig, StreamInfo, VmConfig,
};

/// An argument: a raw number, a small one (an enum's value, a size), or the address or
/// length of one of the input's blobs in guest memory.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Arg {
    Raw(u32),
    Small(u8),
    BlobAt(u8),
    BlobLen(u8),
    /// An address inside the data, not at a blob's start.
    DataAt(u16),
}

#[derive(Arbitrary, Debug)]
struct Op {
    function: u8,
    args: [Arg; 12],
}

/// Bytes the program can point at: plain bytes, a header map in the wire format, or a
/// property path.
#[derive(Arbitrary, Debug)]
enum Blob {
    Bytes(Vec<u8>),
    Pairs(Vec<(Vec<u8>, Vec<u8>)>),
    Path(Vec<Vec<u8>>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    blobs: Vec<Blob>,
    ops: Vec<Op>,
    flags: u32,
    request_headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

fn module() -> &'static PluginModule {
    static MODULE: OnceLock<PluginModule> = OnceLock::new();
    MODULE.get_or_init(|| {
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: None,
            ..RuntimeConfig::default()
        })
        .expect("a runtime");
        let wasm = wat::parse_str(module_text()).expect("the driver's text");
        PluginModule::from_bytes(&runtime, "abi-driver", &wasm).expect("the driver compiles")
    })
}

/// The program as the driver reads it from its configuration.
fn program(input: &Input) -> Vec<u8> {
    let blobs: Vec<Vec<u8>> = input
        .blobs
        .iter()
        .map(|blob| match blob {
            Blob::Bytes(bytes) => bytes.clone(),
            Blob::Pairs(pairs) => wasmgate_abi::pairs::encode(pairs),
            Blob::Path(segments) => wasmgate_abi::path::encode(segments),
        })
        .collect();
    let mut data = Vec::new();
    let mut at = Vec::new();
    for blob in &blobs {
        at.push(PROGRAM_AT + HEADER + data.len() as u32);
        data.extend_from_slice(blob);
    }
    let blob = |i: u8| (i as usize).checked_rem(blobs.len());
    let ops_offset = HEADER + data.len() as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&ops_offset.to_le_bytes());
    out.extend_from_slice(&(input.ops.len() as u32).to_le_bytes());
    out.extend_from_slice(&input.flags.to_le_bytes());
    out.extend_from_slice(&data);
    for op in &input.ops {
        out.extend_from_slice(&u32::from(op.function).to_le_bytes());
        for arg in op.args {
            let value = match arg {
                Arg::Raw(v) => v,
                Arg::Small(v) => u32::from(v),
                Arg::BlobAt(i) => blob(i).map_or(0, |i| at[i]),
                Arg::BlobLen(i) => blob(i).map_or(0, |i| blobs[i].len() as u32),
                Arg::DataAt(offset) => {
                    PROGRAM_AT + HEADER + u32::from(offset) % (data.len() as u32 + 1)
                }
            };
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    debug_assert_eq!(
        out.len() as u32,
        ops_offset + input.ops.len() as u32 * OP_SIZE
    );
    out
}

fuzz_target!(|input: Input| {
    let config = VmConfig::new("abi-driver", program(&input));
    // A start-up that fails (a trap, a refused configuration) is an error, not a panic.
    let Ok(mut vm) = PluginVm::new(module(), config, Box::new(NoCallouts)) else {
        return;
    };
    let Ok(id) = block_on(vm.create_stream(StreamInfo::default())) else {
        return;
    };
    if let Some(stream) = vm.stream_mut(id) {
        stream.request_headers = HeaderMap::from_pairs(&input.request_headers);
        stream.request_body = input.body.clone();
    }
    let _ = block_on(vm.on_request_headers(id, false));
    let _ = block_on(vm.on_request_body(id, true));
    if let Some(stream) = vm.stream_mut(id) {
        stream.response_headers = HeaderMap::from_pairs(&[(":status", "200")]);
        stream.response_body = input.body.clone();
    }
    let _ = block_on(vm.on_response_headers(id, false));
    let _ = block_on(vm.on_response_body(id, true));
    let _ = block_on(vm.on_tick());
    let _ = block_on(vm.finish_stream(id));
});
