//! [`TestHost`]: one plugin VM and one request at a time. Callouts the plugin makes are
//! recorded for the test to inspect and answer by token (gRPC's in `grpc`); log lines are captured; the
//! stream's state (running, paused, replied locally, closed) follows every callback.

use std::collections::HashMap;
use std::time::Duration;

use wasmgate_host::abi::{HeaderAction, LogLevel};
use wasmgate_host::block_on;
use wasmgate_host::shared::Metric;
use wasmgate_host::{
    HeaderMap, HostError, LocalReply, LogRecord, PhaseOutcome, PluginModule, PluginVm, Runtime,
    Shared as SharedState, StreamInfo, StreamSignal, VmConfig,
};

use crate::recorder::Shared;

mod callouts;
mod grpc;

/// Where the current request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamState {
    /// No request yet, or the last phase continued.
    Running,
    /// The last phase paused; waiting for a resume or a local reply.
    Paused(Phase),
    /// The plugin holds the headers with Higress's `StopIteration` (ABI `0_2_100`, a body
    /// to come): the headers wait while the body still comes to the plugin; its body phase
    /// that continues lets them go (the gateway does the same).
    HoldingHeaders(Phase),
    /// The plugin answered with a local reply.
    Replied(LocalReply),
    /// The plugin closed the stream.
    Closed,
}

/// A request or response phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Request headers.
    RequestHeaders,
    /// Request body.
    RequestBody,
    /// Response headers.
    ResponseHeaders,
    /// Response body.
    ResponseBody,
    /// Request trailers.
    RequestTrailers,
    /// Response trailers.
    ResponseTrailers,
}

/// A plugin under test.
pub struct TestHost {
    runtime: Runtime,
    module: PluginModule,
    vm_config: VmConfig,
    vm: PluginVm,
    recorder: Shared,
    info: StreamInfo,
    stream: Option<u32>,
    state: StreamState,
    answered: Vec<u32>,
    /// Request and response body data that moved on past the plugin.
    forwarded: (Vec<u8>, Vec<u8>),
    /// Data the plugin injected ended the response: later response data does not reach it.
    response_ended: bool,
}

impl TestHost {
    /// A host on a started VM.
    pub(crate) fn from_parts(
        runtime: Runtime,
        module: PluginModule,
        vm_config: VmConfig,
        vm: PluginVm,
        recorder: Shared,
        info: StreamInfo,
    ) -> TestHost {
        TestHost {
            runtime,
            module,
            vm_config,
            vm,
            recorder,
            info,
            stream: None,
            state: StreamState::Running,
            answered: Vec::new(),
            forwarded: Default::default(),
            response_ended: false,
        }
    }

    /// The VM, for what this API does not cover.
    pub fn vm(&mut self) -> &mut PluginVm {
        &mut self.vm
    }

    /// The runtime the plugin was compiled with.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Shared data, queues and metrics of this host (not shared with other hosts).
    pub fn shared(&self) -> &SharedState {
        &self.vm_config.shared
    }

    fn stream_id(&mut self) -> Result<u32, HostError> {
        match self.stream {
            Some(id) => Ok(id),
            None => {
                let id = block_on(self.vm.create_stream(self.info.clone()))?;
                self.stream = Some(id);
                self.state = StreamState::Running;
                Ok(id)
            }
        }
    }

    fn apply(&mut self, phase: Phase, outcome: PhaseOutcome, end_of_stream: bool) -> StreamState {
        let headers = matches!(phase, Phase::RequestHeaders | Phase::ResponseHeaders);
        let stop_iteration = HeaderAction::StopIteration.raw();
        self.state = match outcome {
            PhaseOutcome::Continue => StreamState::Running,
            PhaseOutcome::Pause { action }
                if headers && !end_of_stream && action == stop_iteration =>
            {
                StreamState::HoldingHeaders(phase)
            }
            PhaseOutcome::Pause { .. } => StreamState::Paused(phase),
            PhaseOutcome::LocalReply(reply) => StreamState::Replied(reply),
            PhaseOutcome::Close => StreamState::Closed,
        };
        if let Some(id) = self.stream {
            self.forward_open_response(id);
        }
        self.state.clone()
    }

    /// Sends request headers (a new request starts if none is open). `:method`, `:scheme`,
    /// `:authority` and `:path` default to `GET`, `http`, `default.test.com` and `/`.
    pub fn request_headers(
        &mut self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<StreamState, HostError> {
        let bytes: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        self.request_headers_bytes(&bytes, end_of_stream)
    }

    /// [`request_headers`](Self::request_headers) with names and values as bytes, for
    /// header values that are not UTF-8 (as HTTP allows: obs-text, Latin-1).
    pub fn request_headers_bytes(
        &mut self,
        headers: &[(&[u8], &[u8])],
        end_of_stream: bool,
    ) -> Result<StreamState, HostError> {
        let id = self.stream_id()?;
        let mut map = HeaderMap::new();
        for (name, default) in [
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "default.test.com"),
            (":path", "/"),
        ] {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            {
                map.add(name.as_bytes(), default.as_bytes());
            }
        }
        for (k, v) in headers {
            map.add(k, v);
        }
        if let Some(stream) = self.vm.stream_mut(id) {
            stream.request_headers = map;
        }
        let outcome = block_on(self.vm.on_request_headers(id, end_of_stream))?;
        Ok(self.apply(Phase::RequestHeaders, outcome, end_of_stream))
    }

    /// Sends a request body chunk. The plugin sees it after what it holds; once a body phase
    /// continues, the data it saw moves on (as in Envoy) and the next call starts afresh.
    pub fn request_body(
        &mut self,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<StreamState, HostError> {
        self.body(Phase::RequestBody, chunk, end_of_stream)
    }

    /// Sends response headers; `:status` defaults to 200.
    pub fn response_headers(
        &mut self,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<StreamState, HostError> {
        let id = self.ensure_request()?;
        let mut map = HeaderMap::new();
        if !headers.iter().any(|(k, _)| *k == ":status") {
            map.add(b":status", b"200");
        }
        for (k, v) in headers {
            map.add(k.as_bytes(), v.as_bytes());
        }
        if let Some(stream) = self.vm.stream_mut(id) {
            stream.response_headers = map;
            stream.info.response_code_details = Some("via_upstream".into());
        }
        let outcome = block_on(self.vm.on_response_headers(id, end_of_stream))?;
        let outcome = self.move_injected(id, outcome, true);
        Ok(self.apply(Phase::ResponseHeaders, outcome, end_of_stream))
    }

    /// Sends a response body chunk, like [`TestHost::request_body`].
    pub fn response_body(
        &mut self,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<StreamState, HostError> {
        self.body(Phase::ResponseBody, chunk, end_of_stream)
    }

    /// Sends the request trailers, which end the request: the plugin's trailers phase runs
    /// with the body it held still readable; when it continues, that body moves on.
    pub fn request_trailers(
        &mut self,
        trailers: &[(&str, &str)],
    ) -> Result<StreamState, HostError> {
        self.trailers(Phase::RequestTrailers, trailers)
    }

    /// Sends the response trailers, like [`TestHost::request_trailers`].
    pub fn response_trailers(
        &mut self,
        trailers: &[(&str, &str)],
    ) -> Result<StreamState, HostError> {
        self.trailers(Phase::ResponseTrailers, trailers)
    }

    fn trailers(
        &mut self,
        phase: Phase,
        trailers: &[(&str, &str)],
    ) -> Result<StreamState, HostError> {
        let id = self.ensure_request()?;
        let request = phase == Phase::RequestTrailers;
        let mut map = HeaderMap::new();
        for (k, v) in trailers {
            map.add(k.as_bytes(), v.as_bytes());
        }
        if let Some(stream) = self.vm.stream_mut(id) {
            if request {
                stream.request_trailers = map;
            } else {
                stream.response_trailers = map;
            }
        }
        let outcome = if request {
            block_on(self.vm.on_request_trailers(id))?
        } else {
            block_on(self.vm.on_response_trailers(id))?
        };
        if outcome == PhaseOutcome::Continue {
            self.forward_held(id, request);
        }
        Ok(self.apply(phase, outcome, true))
    }

    /// Moves what the plugin held on, as the host does once a phase continues.
    fn forward_held(&mut self, id: u32, request: bool) {
        if let Some(stream) = self.vm.stream_mut(id) {
            let data = std::mem::take(held(stream, request));
            let forwarded = if request {
                &mut self.forwarded.0
            } else {
                &mut self.forwarded.1
            };
            forwarded.extend_from_slice(&data);
        }
    }

    fn body(
        &mut self,
        phase: Phase,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<StreamState, HostError> {
        let id = self.ensure_request()?;
        let request = phase == Phase::RequestBody;
        if !request && self.response_ended {
            return Ok(self.state.clone());
        }
        if let Some(stream) = self.vm.stream_mut(id) {
            held(stream, request).extend_from_slice(chunk);
            if request {
                stream.info.request_body_bytes += chunk.len() as u64;
            }
        }
        let outcome = if request {
            block_on(self.vm.on_request_body(id, end_of_stream))?
        } else {
            let outcome = block_on(self.vm.on_response_body(id, end_of_stream))?;
            self.move_injected(id, outcome, false)
        };
        if outcome == PhaseOutcome::Continue && (request || !self.response_ended) {
            self.forward_held(id, request);
        }
        Ok(self.apply(phase, outcome, true))
    }

    /// Moves the response data the plugin injected after itself on, before what it releases
    /// (as the gateway does). Injected from the header phase, it lets the headers go on;
    /// ending the response, it drops what the plugin held and ends its pause.
    fn move_injected(&mut self, id: u32, outcome: PhaseOutcome, headers: bool) -> PhaseOutcome {
        let Some(injected) = self.vm.stream_mut(id).and_then(|s| s.injected.take()) else {
            return outcome;
        };
        self.forwarded.1.extend_from_slice(&injected.data);
        if injected.end_of_stream {
            self.response_ended = true;
            if let Some(stream) = self.vm.stream_mut(id) {
                held(stream, false).clear();
            }
        }
        match outcome {
            PhaseOutcome::Pause { .. } if headers || injected.end_of_stream => {
                PhaseOutcome::Continue
            }
            other => other,
        }
    }

    /// Data the plugin wrote to its open response (`wasmgate_open_response`) from a
    /// callback goes on to the client at once, as the gateway sends it.
    fn forward_open_response(&mut self, id: u32) {
        let open = self.vm.stream_mut(id).filter(|s| s.response_open);
        if let Some(injected) = open.and_then(|s| s.injected.take()) {
            self.forwarded.1.extend_from_slice(&injected.data);
            self.response_ended |= injected.end_of_stream;
        }
    }

    /// Whether the plugin answered with an open response that has not ended yet.
    pub fn response_is_open(&self) -> bool {
        let open = self
            .stream
            .and_then(|id| self.vm.stream(id))
            .is_some_and(|s| s.response_open);
        open && !self.response_ended
    }

    /// A body without headers first sends default request headers, as Higress's harness does.
    fn ensure_request(&mut self) -> Result<u32, HostError> {
        if self.stream.is_none() {
            self.request_headers(&[], false)?;
        }
        self.stream_id()
    }

    /// Ends the request (`on_log`, `on_done`, `on_delete`); the next call starts a new one.
    pub fn complete(&mut self) -> Result<(), HostError> {
        self.forwarded = Default::default();
        self.response_ended = false;
        if let Some(id) = self.stream.take() {
            // The stream's last state goes with it; its headers were read above.
            let _finished = block_on(self.vm.finish_stream(id))?;
        }
        self.state = StreamState::Running;
        Ok(())
    }

    /// Where the request stands.
    pub fn state(&self) -> &StreamState {
        &self.state
    }

    /// The local reply, if the plugin sent one.
    pub fn local_reply(&self) -> Option<&LocalReply> {
        match &self.state {
            StreamState::Replied(reply) => Some(reply),
            _ => None,
        }
    }

    /// The request headers as they are now (what the upstream would receive).
    pub fn request_header_map(&self) -> HeaderMap {
        self.stream
            .and_then(|id| self.vm.stream(id))
            .map(|s| s.request_headers.clone())
            .unwrap_or_default()
    }

    /// One request header (values joined with `,`), lossy UTF-8.
    pub fn request_header(&self, name: &str) -> Option<String> {
        let value = self.request_header_map().get(name.as_bytes())?;
        Some(String::from_utf8_lossy(&value).into_owned())
    }

    /// The response headers as they are now.
    pub fn response_header_map(&self) -> HeaderMap {
        self.stream
            .and_then(|id| self.vm.stream(id))
            .map(|s| s.response_headers.clone())
            .unwrap_or_default()
    }

    /// The request trailers as they are now (what the upstream would receive).
    pub fn request_trailer_map(&self) -> HeaderMap {
        self.stream
            .and_then(|id| self.vm.stream(id))
            .map(|s| s.request_trailers.clone())
            .unwrap_or_default()
    }

    /// The response trailers as they are now.
    pub fn response_trailer_map(&self) -> HeaderMap {
        self.stream
            .and_then(|id| self.vm.stream(id))
            .map(|s| s.response_trailers.clone())
            .unwrap_or_default()
    }

    /// One response header, lossy UTF-8.
    pub fn response_header(&self, name: &str) -> Option<String> {
        let value = self.response_header_map().get(name.as_bytes())?;
        Some(String::from_utf8_lossy(&value).into_owned())
    }

    /// The request body as the plugin left it: what moved on, then what it holds.
    pub fn request_body_bytes(&self) -> Vec<u8> {
        self.body_bytes(true)
    }

    /// The response body as the plugin left it: what moved on, then what it holds.
    pub fn response_body_bytes(&self) -> Vec<u8> {
        self.body_bytes(false)
    }

    fn body_bytes(&self, request: bool) -> Vec<u8> {
        let mut bytes = if request {
            self.forwarded.0.clone()
        } else {
            self.forwarded.1.clone()
        };
        if let Some(stream) = self.stream.and_then(|id| self.vm.stream(id)) {
            bytes.extend_from_slice(if request {
                &stream.request_body
            } else {
                &stream.response_body
            });
        }
        bytes
    }

    /// A property the plugin set on the current request (`custom_log`, …).
    pub fn property(&self, name: &str) -> Option<Vec<u8>> {
        let stream = self.vm.stream(self.stream?)?;
        stream.property(name).map(<[u8]>::to_vec)
    }

    /// Fires `proxy_on_tick` once.
    pub fn tick(&mut self) -> Result<StreamState, HostError> {
        block_on(self.vm.on_tick())?;
        Ok(self.follow_signals())
    }

    /// Delivers `proxy_on_queue_ready` for items another host (sharing this one's
    /// [`SharedState`]) enqueued to a queue this plugin registered last. Items this
    /// plugin enqueues itself are delivered after each of its callbacks, as in Envoy.
    pub fn queue_ready(&mut self) -> Result<StreamState, HostError> {
        block_on(self.vm.deliver_queue_ready())?;
        Ok(self.follow_signals())
    }

    /// The tick period the plugin asked for.
    pub fn tick_period(&self) -> Duration {
        Duration::from_millis(self.vm.tick_period_ms() as u64)
    }

    fn follow_signals(&mut self) -> StreamState {
        let signaled = self.vm.take_signaled();
        if let Some(id) = self.stream.filter(|id| signaled.contains(id)) {
            while let Some(signal) = self.vm.take_signal(id) {
                self.state = match signal {
                    StreamSignal::ResumeRequest | StreamSignal::ResumeResponse => {
                        match self.state {
                            StreamState::Paused(_) | StreamState::HoldingHeaders(_) => {
                                StreamState::Running
                            }
                            ref other => other.clone(),
                        }
                    }
                    StreamSignal::LocalReply(reply) => StreamState::Replied(reply),
                    StreamSignal::Close => StreamState::Closed,
                    StreamSignal::OpenResponseData => self.state.clone(),
                };
            }
            self.forward_open_response(id);
        }
        self.state.clone()
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<LogRecord> {
        self.recorder.lock().logs.clone()
    }

    /// The messages logged at one level.
    pub fn log_messages(&self, level: LogLevel) -> Vec<String> {
        self.logs()
            .into_iter()
            .filter(|r| r.level == level)
            .map(|r| r.message)
            .collect()
    }

    /// A metric the plugin defined.
    pub fn metric(&self, name: &str) -> Option<Metric> {
        self.vm_config.shared.metric(name)
    }

    /// Shared data by key (this plugin's VM id).
    pub fn shared_data(&self, key: &str) -> Option<Vec<u8>> {
        self.vm_config
            .shared
            .get(&self.vm_config.vm_id, key.as_bytes())
            .map(|(v, _)| v)
    }

    /// Replaces the VM with a new one (as a gateway does after a crash); shared state stays.
    pub fn rebuild(&mut self) -> Result<(), HostError> {
        self.vm = PluginVm::new(
            &self.module,
            self.vm_config.clone(),
            Box::new(self.recorder.clone()),
        )?;
        self.stream = None;
        self.forwarded = Default::default();
        self.response_ended = false;
        self.state = StreamState::Running;
        Ok(())
    }
}

/// Header pairs as a map of text (lossy), for assertions.
pub fn text_headers(map: &HeaderMap) -> HashMap<String, String> {
    map.pairs
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

fn held(stream: &mut wasmgate_host::stream::HttpStream, request: bool) -> &mut Vec<u8> {
    if request {
        &mut stream.request_body
    } else {
        &mut stream.response_body
    }
}
