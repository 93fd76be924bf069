//! The proxy-wasm callbacks a module exports, looked up once per VM: [`Exports`], with the
//! header callbacks in the shape the module's ABI version gives them, less the per-request
//! callbacks the plugin said at start it does not need ([`UNUSED_CALLBACKS`]).

use wasmgate_abi::AbiVersion;
use wasmtime::{Instance, Store, TypedFunc};

use crate::state::HostState;

type HeaderFn = TypedFunc<(u32, u32, u32), u32>;
type HttpCallResponseFn = TypedFunc<(u32, u32, u32, u32, u32), ()>;
type RedisCallResponseFn = TypedFunc<(u32, u32, i32, i32), ()>;
type LegacyHeaderFn = TypedFunc<(u32, u32), u32>;
/// The gRPC callbacks: (root context, token, a count or size or status).
type GrpcFn = TypedFunc<(u32, u32, u32), ()>;

/// The foreign function a plugin calls during start-up (`proxy_on_vm_start` or
/// `proxy_on_configure`) with the names of the per-request callbacks it does not need,
/// separated by commas (e.g. `proxy_on_response_body,proxy_on_log`): the host then does not
/// call them, and takes each as having answered "continue" (`proxy_on_done`: "done"). Names
/// of other callbacks are ignored; a plugin that says nothing is called for every phase.
pub const UNUSED_CALLBACKS: &str = "wasmgate_unused_callbacks";

#[derive(Clone)]
pub(crate) enum HeaderCallback {
    Current(HeaderFn),
    Legacy(LegacyHeaderFn),
}

#[derive(Default, Clone)]
pub(crate) struct Exports {
    pub(crate) context_create: Option<TypedFunc<(u32, u32), ()>>,
    pub(crate) vm_start: Option<TypedFunc<(u32, u32), u32>>,
    pub(crate) configure: Option<TypedFunc<(u32, u32), u32>>,
    pub(crate) request_headers: Option<HeaderCallback>,
    pub(crate) request_body: Option<TypedFunc<(u32, u32, u32), u32>>,
    pub(crate) request_trailers: Option<TypedFunc<(u32, u32), u32>>,
    pub(crate) response_headers: Option<HeaderCallback>,
    pub(crate) response_body: Option<TypedFunc<(u32, u32, u32), u32>>,
    pub(crate) response_trailers: Option<TypedFunc<(u32, u32), u32>>,
    pub(crate) done: Option<TypedFunc<u32, u32>>,
    pub(crate) log: Option<TypedFunc<u32, ()>>,
    pub(crate) delete: Option<TypedFunc<u32, ()>>,
    pub(crate) tick: Option<TypedFunc<u32, ()>>,
    pub(crate) http_call_response: Option<HttpCallResponseFn>,
    pub(crate) redis_call_response: Option<RedisCallResponseFn>,
    pub(crate) queue_ready: Option<TypedFunc<(u32, u32), ()>>,
    pub(crate) grpc_initial_metadata: Option<GrpcFn>,
    pub(crate) grpc_receive: Option<GrpcFn>,
    pub(crate) grpc_trailing_metadata: Option<GrpcFn>,
    pub(crate) grpc_close: Option<GrpcFn>,
}

impl Exports {
    /// Drops the per-request callbacks named in `unused`, so they are not called.
    pub(crate) fn forget(&mut self, unused: &[String]) {
        for name in unused {
            match name.as_str() {
                "proxy_on_request_headers" => self.request_headers = None,
                "proxy_on_request_body" => self.request_body = None,
                "proxy_on_request_trailers" => self.request_trailers = None,
                "proxy_on_response_headers" => self.response_headers = None,
                "proxy_on_response_body" => self.response_body = None,
                "proxy_on_response_trailers" => self.response_trailers = None,
                "proxy_on_done" => self.done = None,
                "proxy_on_log" => self.log = None,
                _ => {}
            }
        }
    }
}

/// Looks up every callback of `instance`.
pub(crate) fn bind(instance: &Instance, store: &mut Store<HostState>, abi: AbiVersion) -> Exports {
    macro_rules! get {
        ($name:literal) => {
            instance.get_typed_func(&mut *store, $name).ok()
        };
    }
    let headers = |store: &mut Store<HostState>, name: &str| {
        if abi.has_end_of_stream() {
            instance
                .get_typed_func(&mut *store, name)
                .ok()
                .map(HeaderCallback::Current)
        } else {
            instance
                .get_typed_func(&mut *store, name)
                .ok()
                .map(HeaderCallback::Legacy)
        }
    };
    Exports {
        context_create: get!("proxy_on_context_create"),
        vm_start: get!("proxy_on_vm_start"),
        configure: get!("proxy_on_configure"),
        request_headers: headers(store, "proxy_on_request_headers"),
        request_body: get!("proxy_on_request_body"),
        request_trailers: get!("proxy_on_request_trailers"),
        response_headers: headers(store, "proxy_on_response_headers"),
        response_body: get!("proxy_on_response_body"),
        response_trailers: get!("proxy_on_response_trailers"),
        done: get!("proxy_on_done"),
        log: get!("proxy_on_log"),
        delete: get!("proxy_on_delete"),
        tick: get!("proxy_on_tick"),
        http_call_response: get!("proxy_on_http_call_response"),
        redis_call_response: get!("proxy_on_redis_call_response"),
        queue_ready: get!("proxy_on_queue_ready"),
        grpc_initial_metadata: get!("proxy_on_grpc_receive_initial_metadata"),
        grpc_receive: get!("proxy_on_grpc_receive"),
        grpc_trailing_metadata: get!("proxy_on_grpc_receive_trailing_metadata"),
        grpc_close: get!("proxy_on_grpc_close"),
    }
}
