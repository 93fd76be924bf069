//! HTTP streams through a VM: their creation, the request and response phases (with the
//! header maps lent for each one, and Higress's StopIteration of `0_2_100`), and their end
//! (`on_log`, `on_done`, `on_delete`).

use wasmgate_abi::{AbiVersion, HeaderAction};
use wasmtime::Store;

use super::{PluginVm, ROOT_ID};
use crate::error::HostError;
use crate::exports::HeaderCallback;
use crate::outcome::{data_outcome, header_outcome, take_own_direction, PhaseOutcome};
use crate::state::HostState;
use crate::stream::{Deferred, HttpStream, StreamInfo};

impl PluginVm {
    /// Creates an HTTP stream context and returns its id.
    pub async fn create_stream(&mut self, info: StreamInfo) -> Result<u32, HostError> {
        let id = self.next_context_id;
        self.next_context_id = self.next_context_id.wrapping_add(1).max(ROOT_ID + 1);
        let stream = HttpStream {
            info,
            ..HttpStream::default()
        };
        self.store.data_mut().streams.insert(id, stream);
        let exports = self.exports.clone();
        if let Some(f) = exports.context_create.as_ref() {
            let created = self
                .guest("proxy_on_context_create", id, async |s| {
                    f.call_async(s, (id, ROOT_ID)).await
                })
                .await;
            if let Err(e) = created {
                self.store.data_mut().streams.remove(&id);
                return Err(e);
            }
        }
        Ok(id)
    }

    /// The state of a stream.
    pub fn stream(&self, id: u32) -> Option<&HttpStream> {
        self.store.data().streams.get(&id)
    }

    /// The state of a stream, to hand headers and bodies in and out.
    pub fn stream_mut(&mut self, id: u32) -> Option<&mut HttpStream> {
        self.store.data_mut().streams.get_mut(&id)
    }

    /// Runs `proxy_on_request_headers` on the headers in the stream.
    pub async fn on_request_headers(
        &mut self,
        id: u32,
        end_of_stream: bool,
    ) -> Result<PhaseOutcome, HostError> {
        self.header_phase(id, true, end_of_stream).await
    }

    /// Runs `proxy_on_response_headers` on the headers in the stream.
    pub async fn on_response_headers(
        &mut self,
        id: u32,
        end_of_stream: bool,
    ) -> Result<PhaseOutcome, HostError> {
        self.header_phase(id, false, end_of_stream).await
    }

    /// Runs `proxy_on_request_body`; the stream's request body holds what is buffered so far.
    pub async fn on_request_body(
        &mut self,
        id: u32,
        end_of_stream: bool,
    ) -> Result<PhaseOutcome, HostError> {
        self.body_phase(id, true, end_of_stream).await
    }

    /// Runs `proxy_on_response_body`; the stream's response body holds what is buffered.
    pub async fn on_response_body(
        &mut self,
        id: u32,
        end_of_stream: bool,
    ) -> Result<PhaseOutcome, HostError> {
        self.body_phase(id, false, end_of_stream).await
    }

    /// Runs `proxy_on_request_trailers`.
    pub async fn on_request_trailers(&mut self, id: u32) -> Result<PhaseOutcome, HostError> {
        self.trailer_phase(id, true).await
    }

    /// Runs `proxy_on_response_trailers`.
    pub async fn on_response_trailers(&mut self, id: u32) -> Result<PhaseOutcome, HostError> {
        self.trailer_phase(id, false).await
    }

    async fn body_phase(
        &mut self,
        id: u32,
        request: bool,
        eos: bool,
    ) -> Result<PhaseOutcome, HostError> {
        let size = self
            .stream(id)
            .map(|s| {
                if request {
                    &s.request_body
                } else {
                    &s.response_body
                }
                .len()
            })
            .unwrap_or(0) as u32;
        let exports = self.exports.clone();
        let (callback, during) = if request {
            (exports.request_body.as_ref(), "proxy_on_request_body")
        } else {
            (exports.response_body.as_ref(), "proxy_on_response_body")
        };
        self.phase(id, request, during, async |s| match callback {
            Some(f) => f.call_async(s, (id, size, eos as u32)).await.map(Some),
            None => Ok(None),
        })
        .await
        .map(|(raw, deferred)| data_outcome(raw, deferred, request))
    }

    async fn trailer_phase(&mut self, id: u32, request: bool) -> Result<PhaseOutcome, HostError> {
        let n = self
            .stream(id)
            .map(|s| {
                if request {
                    &s.request_trailers
                } else {
                    &s.response_trailers
                }
                .len()
            })
            .unwrap_or(0) as u32;
        let exports = self.exports.clone();
        let (callback, during) = if request {
            (
                exports.request_trailers.as_ref(),
                "proxy_on_request_trailers",
            )
        } else {
            (
                exports.response_trailers.as_ref(),
                "proxy_on_response_trailers",
            )
        };
        self.phase(id, request, during, async |s| match callback {
            Some(f) => f.call_async(s, (id, n)).await.map(Some),
            None => Ok(None),
        })
        .await
        .map(|(raw, deferred)| header_outcome(raw.map(HeaderAction::from_guest), deferred, request))
    }

    async fn header_phase(
        &mut self,
        id: u32,
        request: bool,
        eos: bool,
    ) -> Result<PhaseOutcome, HostError> {
        let exports = self.exports.clone();
        let (callback, during) = if request {
            (exports.request_headers.as_ref(), "proxy_on_request_headers")
        } else {
            (
                exports.response_headers.as_ref(),
                "proxy_on_response_headers",
            )
        };
        let stream = self.stream(id);
        let n = if request {
            stream.map(|s| s.request_headers.len())
        } else {
            stream.map(|s| s.response_headers.len())
        }
        .unwrap_or(0) as u32;
        self.set_header_map_reach(id, request, true);
        let (raw, deferred) = self
            .phase(id, request, during, async |s| match callback {
                Some(HeaderCallback::Current(f)) => {
                    f.call_async(s, (id, n, eos as u32)).await.map(Some)
                }
                Some(HeaderCallback::Legacy(f)) => f.call_async(s, (id, n)).await.map(Some),
                None => Ok(None),
            })
            .await?;
        let action = raw.map(HeaderAction::from_guest);
        if !action.is_some_and(HeaderAction::is_stop) {
            self.set_header_map_reach(id, request, false);
        }
        // Higress's host keeps StopIteration for the headers of both directions under
        // `0_2_100` (the headers wait, the body still comes to the plugin); for the older
        // ABIs it becomes StopAllIterationAndWatermark, as in Envoy.
        let higress = self.module.abi() == AbiVersion::V0_2_100;
        let action = action.map(|a| match a {
            HeaderAction::StopIteration if !higress => HeaderAction::StopAllIterationAndWatermark,
            other => other,
        });
        Ok(header_outcome(action, deferred, request))
    }

    /// Hands the plugin a stream's request or response header map, or takes it back.
    fn set_header_map_reach(&mut self, id: u32, request: bool, reachable: bool) {
        if let Some(stream) = self.stream_mut(id) {
            if request {
                stream.maps.request_headers = reachable;
            } else {
                stream.maps.response_headers = reachable;
            }
        }
    }

    /// Runs a phase callback with the stream as the current context and collects the
    /// actions it deferred for its own direction.
    async fn phase(
        &mut self,
        id: u32,
        request: bool,
        during: &'static str,
        call: impl AsyncFnOnce(&mut Store<HostState>) -> wasmtime::Result<Option<u32>>,
    ) -> Result<(Option<u32>, Deferred), HostError> {
        if !self.store.data().streams.contains_key(&id) {
            return Ok((None, Deferred::default()));
        }
        self.store.data_mut().in_phase_of = Some(id);
        let result = self.guest(during, id, call).await;
        self.store.data_mut().in_phase_of = None;
        let raw = result?;
        self.deliver_queue_ready().await?;
        let deferred = self
            .stream_mut(id)
            .map(|s| take_own_direction(&mut s.deferred, request))
            .unwrap_or_default();
        Ok((raw, deferred))
    }

    /// Ends a stream: `proxy_on_log` (which reads both header maps), `proxy_on_done`,
    /// `proxy_on_delete`, then forgets it and hands back its last state (`None` for an
    /// unknown stream). A failed callback drops the state with the error.
    pub async fn finish_stream(&mut self, id: u32) -> Result<Option<HttpStream>, HostError> {
        if !self.store.data().streams.contains_key(&id) {
            return Ok(None);
        }
        let result = self.finish_calls(id).await;
        let state = self.store.data_mut();
        let stream = state.streams.remove(&id);
        state.signaled.retain(|s| *s != id);
        result.map(|()| stream)
    }

    /// `on_log` comes first, as in Envoy (its access log runs before the filters are
    /// destroyed), then `on_done` and `on_delete`.
    async fn finish_calls(&mut self, id: u32) -> Result<(), HostError> {
        let exports = self.exports.clone();
        if let Some(f) = exports.log.as_ref() {
            self.set_logging(id, true);
            let logged = self
                .guest("proxy_on_log", id, async |s| f.call_async(s, id).await)
                .await;
            self.set_logging(id, false);
            logged?;
        }
        if let Some(f) = exports.done.as_ref() {
            let done = self
                .guest("proxy_on_done", id, async |s| f.call_async(s, id).await)
                .await?;
            if let Some(stream) = self.stream_mut(id) {
                stream.done_pending = done == 0;
            }
        }
        if let Some(f) = exports.delete.as_ref() {
            self.guest("proxy_on_delete", id, async |s| f.call_async(s, id).await)
                .await?;
        }
        Ok(())
    }

    fn set_logging(&mut self, id: u32, logging: bool) {
        if let Some(stream) = self.stream_mut(id) {
            stream.maps.logging = logging;
        }
    }
}
