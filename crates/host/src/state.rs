//! The data a wasmtime store carries for one plugin VM: the plugin's identity and
//! configuration, its streams, the buffers valid during one callback, and the handlers the
//! embedder gave (callouts, logs, foreign functions).

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use wasmgate_abi::{AbiVersion, LogLevel, Status};
use wasmtime::{Memory, ResourceLimiter, StoreLimits, TypedFunc};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::callout::{CalloutHandler, HttpCalloutResponse};
use crate::grpc::GrpcCalls;
use crate::shared::{QueueInbox, Shared};
use crate::stream::{HeaderMap, HttpStream, Injected};

/// One line a plugin logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The plugin's name.
    pub plugin: String,
    /// Its level.
    pub level: LogLevel,
    /// The message (lossy UTF-8).
    pub message: String,
    /// The `x-request-id` of the stream the line belongs to, if any.
    pub request_id: Option<String>,
}

/// Where plugin log lines go.
pub trait LogSink: Send + Sync {
    /// Takes one line.
    fn log(&self, record: &LogRecord);
}

/// Sends plugin log lines to `tracing`, with the plugin name and request id as fields.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingLogSink;

impl LogSink for TracingLogSink {
    fn log(&self, r: &LogRecord) {
        let id = r.request_id.as_deref().unwrap_or("-");
        match r.level {
            LogLevel::Trace => {
                tracing::trace!(target: "plugin", plugin = %r.plugin, request_id = %id, "{}", r.message)
            }
            LogLevel::Debug => {
                tracing::debug!(target: "plugin", plugin = %r.plugin, request_id = %id, "{}", r.message)
            }
            LogLevel::Info => {
                tracing::info!(target: "plugin", plugin = %r.plugin, request_id = %id, "{}", r.message)
            }
            LogLevel::Warn => {
                tracing::warn!(target: "plugin", plugin = %r.plugin, request_id = %id, "{}", r.message)
            }
            LogLevel::Error | LogLevel::Critical => {
                tracing::error!(target: "plugin", plugin = %r.plugin, request_id = %id, "{}", r.message)
            }
        }
    }
}

/// A function a plugin can call with `proxy_call_foreign_function`.
pub type ForeignFunction = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, Status> + Send + Sync>;

/// Buffers that are readable only during one callback.
#[derive(Default)]
pub(crate) struct CallBuffers {
    pub(crate) callout: Option<HttpCalloutResponse>,
    pub(crate) redis: Option<Vec<u8>>,
    pub(crate) foreign_args: Option<Vec<u8>>,
    /// `GrpcReceiveInitialMetadata` in `proxy_on_grpc_receive_initial_metadata`.
    pub(crate) grpc_initial_metadata: Option<HeaderMap>,
    /// `GrpcReceiveTrailingMetadata` in `proxy_on_grpc_receive_trailing_metadata`.
    pub(crate) grpc_trailing_metadata: Option<HeaderMap>,
    /// `GrpcReceiveBuffer` in `proxy_on_grpc_receive`.
    pub(crate) grpc_message: Option<Vec<u8>>,
    /// What `proxy_get_status` answers in `proxy_on_grpc_close`: code and message.
    pub(crate) grpc_status: Option<(u32, String)>,
}

/// The store data of one VM.
pub struct HostState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limits: GuestLimits,
    pub(crate) plugin_name: String,
    pub(crate) vm_id: String,
    pub(crate) root_context_id: u32,
    /// The configured root id (`plugin_root_id`): empty unless the configuration names one.
    pub(crate) root_id: String,
    pub(crate) abi: AbiVersion,
    pub(crate) vm_config: Vec<u8>,
    pub(crate) plugin_config: Vec<u8>,
    pub(crate) log_level: LogLevel,
    pub(crate) log_sink: Arc<dyn LogSink>,
    pub(crate) shared: Shared,
    pub(crate) callouts: Box<dyn CalloutHandler + Send>,
    pub(crate) foreign: HashMap<String, ForeignFunction>,
    /// Keyed by context id, which the host hands out: a fast hasher is enough.
    pub(crate) streams: FxHashMap<u32, HttpStream>,
    /// The context host calls act on (`proxy_set_effective_context` changes it).
    pub(crate) current_context: u32,
    /// The stream whose own phase callback is running, if any.
    pub(crate) in_phase_of: Option<u32>,
    /// Streams that got deferred actions outside their own phase callback.
    pub(crate) signaled: Vec<u32>,
    pub(crate) buffers: CallBuffers,
    pub(crate) tick_period_ms: u32,
    /// The last callout token of each kind (its low two bits).
    pub(crate) last_tokens: [u32; 4],
    /// The gRPC calls and streams open.
    pub(crate) grpc: GrpcCalls,
    /// Where enqueues to this VM's queues post their ids, for `proxy_on_queue_ready`.
    pub(crate) queue_inbox: QueueInbox,
    pub(crate) rebuild_requested: bool,
    /// A header-map call refused for coming out of the map's time was reported (once a VM).
    pub(crate) reported_out_of_reach: bool,
    /// Whether a header map change past the limits was reported (once per VM).
    pub(crate) reported_header_limit: bool,
    /// Whether a body edit past the body limit was reported (once per VM).
    pub(crate) reported_body_limit: bool,
    pub(crate) upstream_hosts: Vec<(String, String)>,
    /// The per-request callbacks the plugin said at start it does not need (the foreign
    /// function `wasmgate_unused_callbacks`).
    pub(crate) unused_callbacks: Vec<String>,
    pub(crate) memory: Option<Memory>,
    /// The guest allocator, shared so a host call can call it without cloning the function.
    /// The time limit and yields of the guest call under way.
    pub(crate) clock: crate::clock::CallClock,
    pub(crate) alloc: Option<Arc<TypedFunc<u32, u32>>>,
}

impl HostState {
    /// The stream host calls currently act on.
    pub(crate) fn current_stream(&mut self) -> Option<&mut HttpStream> {
        self.streams.get_mut(&self.current_context)
    }

    /// Notes that a stream got an action outside its own phase, so the embedder looks at it.
    pub(crate) fn signal_current(&mut self) {
        let id = self.current_context;
        if self.in_phase_of != Some(id)
            && self.streams.contains_key(&id)
            && !self.signaled.contains(&id)
        {
            self.signaled.push(id);
        }
    }

    /// Response data the current stream's plugin injects after itself. Into an open response
    /// from outside the stream's phases, the embedder is told at once (it sends it on).
    pub(crate) fn inject(&mut self, data: &[u8], end_of_stream: bool) -> Result<(), Status> {
        let stream = self.current_stream().ok_or(Status::NotFound)?;
        Injected::add(&mut stream.injected, data, end_of_stream);
        if stream.response_open {
            stream.deferred.open_response_data = true;
            self.signal_current();
        }
        Ok(())
    }

    /// The request id of the current stream, for log lines.
    pub(crate) fn current_request_id(&self) -> Option<String> {
        let stream = self.streams.get(&self.current_context)?;
        let id = stream
            .properties
            .get(b"x_request_id".as_slice())
            .cloned()
            .or_else(|| stream.request_headers.get(b"x-request-id"))?;
        Some(String::from_utf8_lossy(&id).into_owned())
    }

    /// Sends one log line to the sink if the level lets it through.
    pub(crate) fn log(&self, level: LogLevel, message: String) {
        if level < self.log_level {
            return;
        }
        self.log_sink.log(&LogRecord {
            plugin: self.plugin_name.clone(),
            level,
            message,
            request_id: self.current_request_id(),
        });
    }

    /// A fresh callout token: ids of each kind step by 4 from the kind, the low two bits
    /// name it (0 HTTP, 1 gRPC call, 2 gRPC stream, 3 Redis), as Envoy's and Higress's.
    pub(crate) fn token(&mut self, kind: u32) -> u32 {
        let last = &mut self.last_tokens[(kind & 3) as usize];
        *last = last.wrapping_add(4);
        *last | kind
    }
}

/// The VM's memory and table limits, remembering whether the guest was refused memory: a
/// `memory.grow` past the limit returns -1 to the guest, as the wasm spec says, and a trap
/// after it is reported as the memory limit.
pub(crate) struct GuestLimits {
    pub(crate) inner: StoreLimits,
    pub(crate) refused_memory: bool,
}

impl ResourceLimiter for GuestLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        self.refused_memory |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }
}
