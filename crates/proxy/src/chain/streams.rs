//! The plugins' streams of one request, and the request's and response's headers.
//!
//! The headers are in the walk's hand between phases and lent to a plugin's stream for each
//! of its phases (and for as long as that phase pauses, since the plugin's callbacks read and
//! change them); one swap lends them and the same swap takes them back ([`Headers::swap`]).
//! A VM that crashed is rebuilt under the request: its streams are gone, which [`live`]
//! tells in one place. A request whose stream was on it goes on without the plugin when the
//! plugin fails open or has no callback for the phase's direction, and on its response
//! side unless the plugin fails closed (the upstream answered; the crash was not this
//! request's, or it would have stopped there); otherwise it fails with 503 (a request
//! phase: a plugin that inspects requests must not be bypassed by crashing it).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use wasmgate_host::stream::HttpStream;
use wasmgate_host::{HeaderMap, HostError, Injected, PhaseOutcome, StreamInfo, StreamSignal};

use super::open::OpenBody;
use super::step::{closed, failed, failure, holds_data, outcome_step, Phase, Step, Stop};
use crate::access_log::{PluginLog, LOG_PROPERTIES};
use crate::config::FailPolicy;
use crate::control::plugins::LoadedPlugin;
use crate::worker::cell::Guard;
use crate::worker::pool::SlotPool;
use crate::worker::slot::{Crash, Slot, SlotRef};

/// The request and response headers and trailers of the walk.
#[derive(Default)]
pub(crate) struct Headers {
    pub(crate) request: HeaderMap,
    pub(crate) response: HeaderMap,
    pub(crate) request_trailers: HeaderMap,
    pub(crate) response_trailers: HeaderMap,
}

impl Headers {
    /// Lends the headers to `stream`, or takes them back from it.
    fn swap(&mut self, stream: &mut HttpStream) {
        std::mem::swap(&mut self.request, &mut stream.request_headers);
        std::mem::swap(&mut self.response, &mut stream.response_headers);
        std::mem::swap(&mut self.request_trailers, &mut stream.request_trailers);
        std::mem::swap(&mut self.response_trailers, &mut stream.response_trailers);
    }

    fn swap_with(&mut self, slot: &mut Slot, id: u32) {
        if let Some(stream) = slot.vm.stream_mut(id) {
            self.swap(stream);
        }
    }
}

/// One plugin's stream in the request.
struct Active {
    slot: SlotRef,
    id: u32,
    /// The VM's generation when the stream opened.
    generation: u64,
}

/// The slot of a stream whose VM still holds it, or the slot whose VM was rebuilt since.
/// Waits for the slot when a guest call holds it.
enum Live<'a> {
    Holds(Guard<'a, Slot>),
    Rebuilt(Guard<'a, Slot>),
}

async fn live(active: &Active) -> Live<'_> {
    let slot = active.slot.lock().await;
    if slot.generation == active.generation {
        Live::Holds(slot)
    } else {
        Live::Rebuilt(slot)
    }
}

/// Whether a request whose stream's VM was rebuilt goes on without the plugin at `phase`
/// (see the module's docs).
fn goes_on_without(slot: &Slot, phase: Phase) -> bool {
    let policy = slot.plugin.spec.fail_policy;
    if phase.is_request() {
        policy.passes() || !slot.vm.handles_requests()
    } else {
        policy != FailPolicy::Closed || !slot.vm.handles_responses()
    }
}

/// What calling a phase did, before any pause is waited out.
enum Called {
    Done(Step),
    /// The phase paused; the headers stay lent until the waiter answers.
    Paused(oneshot::Receiver<StreamSignal>, Arc<LoadedPlugin>),
}

/// What opening a plugin's stream gave.
pub(crate) enum Opened {
    /// A stream, the last of the request's.
    Stream,
    /// None: the plugin is down or could not open one, and fails open.
    Skipped,
    /// None: the request fails.
    Failed,
}

/// A piece of body through the plugins' body phases.
pub(crate) enum Passage {
    /// The data left the last plugin; `changed` when a plugin changed or held it.
    Released { data: Vec<u8>, changed: bool },
    /// A plugin holds the data.
    Held,
    /// The request stops.
    Stopped(Stop),
}

/// The plugins' streams of one request, in the order they opened.
pub(crate) struct Streams {
    actives: Vec<Active>,
    pub(crate) headers: Headers,
    request_id: String,
    pause_timeout: Duration,
    /// Response data the plugin of the last response phase injected after itself, with its
    /// stream's index (Higress's `inject_encoded_data_to_filter_chain*`).
    injected: Option<(usize, Injected)>,
    /// A plugin's injection ended the response (the rest of the upstream's body is dropped).
    ended_by_injection: bool,
}

impl Streams {
    pub(crate) fn new(request: HeaderMap, request_id: String, pause_timeout: Duration) -> Self {
        Streams {
            actives: Vec::new(),
            headers: Headers {
                request,
                ..Headers::default()
            },
            request_id,
            pause_timeout,
            injected: None,
            ended_by_injection: false,
        }
    }

    /// The data a plugin injected after itself in its response-header phase, with the
    /// plugin's index: it goes to the plugins before it in the chain, then the client.
    pub(crate) fn take_injected(&mut self) -> Option<(usize, Injected)> {
        self.injected.take()
    }

    /// The stream whose plugin answered with an open response: its index and its body.
    pub(crate) async fn open_response(&self) -> Option<(usize, OpenBody)> {
        for (index, active) in self.actives.iter().enumerate() {
            let Live::Holds(mut slot) = live(active).await else {
                continue;
            };
            if slot
                .vm
                .stream_mut(active.id)
                .is_some_and(|s| s.response_open)
            {
                let body = OpenBody::new(active.slot.clone(), active.id, active.generation);
                return Some((index, body));
            }
        }
        None
    }

    /// Whether a plugin's injection ended the response (asked once).
    pub(crate) fn take_ended_by_injection(&mut self) -> bool {
        std::mem::take(&mut self.ended_by_injection)
    }

    /// Shortens the longest pause to `limit` (a route's timeout; zero is no limit).
    pub(crate) fn limit_pauses(&mut self, limit: Duration) {
        if !limit.is_zero() {
            self.pause_timeout = self.pause_timeout.min(limit);
        }
    }

    /// How many streams are open.
    pub(crate) fn len(&self) -> usize {
        self.actives.len()
    }

    pub(crate) fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Opens a stream on a VM of `pool`, once it serves (see [`Slot::ready`]). A plugin that
    /// cannot is skipped when it fails open; otherwise the request fails.
    pub(crate) async fn open(&mut self, pool: &Rc<SlotPool>, info: &StreamInfo) -> Opened {
        let skipped = |passes: bool| {
            if passes {
                Opened::Skipped
            } else {
                Opened::Failed
            }
        };
        let slot = &pool.pick().await;
        let created = {
            let mut s = match Slot::ready(slot).await {
                Ok(s) => s,
                Err(passes) => {
                    tracing::debug!(request_id = %self.request_id, plugin = %pool.plugin().spec.name, passes, "plugin is down");
                    return skipped(passes);
                }
            };
            let generation = s.generation;
            match s.vm.create_stream(info.clone()).await {
                Ok(id) => Ok((id, generation)),
                Err(e) => {
                    s.recover(&e, Crash::InRequest);
                    Err((e, s.plugin.spec.fail_policy.passes()))
                }
            }
        };
        match created {
            Ok((id, generation)) => {
                self.actives.push(Active {
                    slot: slot.clone(),
                    id,
                    generation,
                });
                Opened::Stream
            }
            Err((e, fail_open)) => {
                let skip = if fail_open {
                    " (fail-open: skipping it)"
                } else {
                    ""
                };
                tracing::error!(request_id = %self.request_id, "{e}{skip}");
                skipped(fail_open)
            }
        }
    }

    /// Runs one phase of stream `index`. Header phases and a body phase at the end of the
    /// stream wait out a pause; a body phase before the end reports that it holds the data.
    pub(crate) async fn phase(&mut self, index: usize, phase: Phase, end_of_stream: bool) -> Step {
        match self.call(index, phase, end_of_stream).await {
            Called::Done(step) => step,
            Called::Paused(waiter, plugin) => self.wait(index, waiter, &plugin).await,
        }
    }

    async fn call(&mut self, index: usize, phase: Phase, end_of_stream: bool) -> Called {
        let active = &self.actives[index];
        let id = active.id;
        let mut slot = match live(active).await {
            Live::Holds(slot) => slot,
            // The VM crashed since the stream opened.
            Live::Rebuilt(slot) if goes_on_without(&slot, phase) => {
                return Called::Done(Step::Continue)
            }
            Live::Rebuilt(_) => return Called::Done(failed()),
        };
        self.headers.swap_with(&mut slot, id);
        let vm = &mut slot.vm;
        let result = match phase {
            Phase::RequestHeaders => vm.on_request_headers(id, end_of_stream).await,
            Phase::RequestBody => vm.on_request_body(id, end_of_stream).await,
            Phase::RequestTrailers => vm.on_request_trailers(id).await,
            Phase::ResponseHeaders => vm.on_response_headers(id, end_of_stream).await,
            Phase::ResponseBody => vm.on_response_body(id, end_of_stream).await,
            Phase::ResponseTrailers => vm.on_response_trailers(id).await,
        };
        // An open response's data stays with its stream: its body takes it from there.
        let injected = slot
            .vm
            .stream_mut(id)
            .filter(|s| !s.response_open)
            .and_then(|s| s.injected.take());
        // Data injected from the response headers lets them go on with it.
        let injected_at_headers = injected.is_some() && phase == Phase::ResponseHeaders;
        if let Some(injected) = injected {
            if phase.is_request() {
                tracing::debug!(request_id = %self.request_id, "plugin {} injected response data in a request phase: dropped", slot.plugin.spec.name);
            } else {
                keep_injected(&mut self.injected, &self.request_id, index, injected);
            }
        }
        if let Ok(PhaseOutcome::Pause { action }) = result {
            if !holds_data(phase, action, end_of_stream) && !injected_at_headers {
                return Called::Paused(slot.wait(id), slot.plugin.clone());
            }
        }
        self.headers.swap_with(&mut slot, id);
        Called::Done(match result {
            Ok(PhaseOutcome::Pause { .. }) if injected_at_headers => Step::Continue,
            Ok(PhaseOutcome::Pause { .. }) => Step::Held,
            Ok(outcome) => outcome_step(outcome, &slot.plugin.spec.name),
            Err(e) => {
                slot.recover(&e, Crash::InRequest);
                self.crashed(e, slot.plugin.spec.fail_policy.passes())
            }
        })
    }

    /// Waits for a paused stream's signal, at most the pause timeout, and takes the headers
    /// back.
    async fn wait(
        &mut self,
        index: usize,
        waiter: oneshot::Receiver<StreamSignal>,
        plugin: &LoadedPlugin,
    ) -> Step {
        let name = &plugin.spec.name;
        let signal = tokio::time::timeout(self.pause_timeout, waiter).await;
        let active = &self.actives[index];
        if let Live::Holds(mut slot) = live(active).await {
            slot.forget(active.id);
            self.headers.swap_with(&mut slot, active.id);
        }
        match signal {
            Ok(Ok(StreamSignal::ResumeRequest | StreamSignal::ResumeResponse)) => Step::Continue,
            Ok(Ok(StreamSignal::LocalReply(reply))) => Step::Stop(Stop::Reply(reply)),
            Ok(Ok(StreamSignal::Close)) => closed(name),
            Ok(Ok(StreamSignal::OpenResponseData)) => Step::Continue,
            // The VM that held it crashed: the plugin never decided.
            Ok(Err(_)) if plugin.spec.fail_policy.passes() => Step::Continue,
            Ok(Err(_)) => failed(),
            Err(_) => {
                tracing::error!(
                    request_id = %self.request_id,
                    "plugin {name} held the request for {} ms without resuming it",
                    self.pause_timeout.as_millis()
                );
                Step::Stop(Stop::Fail(
                    http::StatusCode::GATEWAY_TIMEOUT,
                    "plugin did not resume the request".into(),
                ))
            }
        }
    }

    fn crashed(&self, error: HostError, fail_open: bool) -> Step {
        tracing::error!(request_id = %self.request_id, "{error}");
        if fail_open {
            Step::Continue
        } else {
            failed()
        }
    }

    /// Passes one chunk through the body phases of the streams in `order`. A plugin holding
    /// more than `limit` bytes fails the request. Data a plugin injects after itself goes
    /// on to the next ones before what it releases, even while it holds its own.
    pub(crate) async fn body_chunk(
        &mut self,
        phase: Phase,
        order: &[usize],
        chunk: Bytes,
        mut end_of_stream: bool,
        limit: usize,
    ) -> Passage {
        let mut data = chunk.to_vec();
        for &index in order {
            match self.rebuilt(index, phase).await {
                Some(true) => continue,
                Some(false) => return Passage::Stopped(failure()),
                None => {}
            }
            self.with_body(index, phase, |body| body.extend_from_slice(&data))
                .await;
            let step = self.phase(index, phase, end_of_stream).await;
            let injected = self
                .injected
                .take_if(|(injector, _)| *injector == index)
                .map(|(_, injected)| injected);
            if let Some(injected) = &injected {
                end_of_stream |= injected.end_of_stream;
                self.ended_by_injection |= injected.end_of_stream;
            }
            match (step, injected) {
                (Step::Continue, injected) => {
                    let out = self.with_body(index, phase, std::mem::take).await;
                    data = match (injected, out) {
                        (Some(injected), Some(out)) => [injected.data, out].concat(),
                        (Some(injected), None) => injected.data,
                        (None, Some(out)) => out,
                        (None, None) => data,
                    };
                }
                (Step::Held, Some(injected)) => data = injected.data,
                (Step::Held, None) => {
                    let held = self
                        .with_body(index, phase, |body| body.len())
                        .await
                        .unwrap_or(0);
                    if held > limit {
                        return Passage::Stopped(too_large(phase));
                    }
                    return Passage::Held;
                }
                (Step::Stop(stop), _) => return Passage::Stopped(stop),
            }
        }
        let changed = data.as_slice() != chunk.as_ref();
        Passage::Released { data, changed }
    }

    /// Passes the trailers through the trailer phases of the streams in `order`, `carried`
    /// (data released before them that these streams have not seen) first through each
    /// one's body phase. Data a plugin held goes on when its trailer phase lets the trailers
    /// go, as Envoy flushes a filter's buffered data before its trailers. Released: the data
    /// that goes before the trailers.
    pub(crate) async fn trailers(
        &mut self,
        phase: Phase,
        order: &[usize],
        mut carried: Vec<u8>,
        limit: usize,
    ) -> Passage {
        let body = phase.body();
        for (position, &index) in order.iter().enumerate() {
            match self.rebuilt(index, phase).await {
                Some(true) => continue,
                Some(false) => return Passage::Stopped(failure()),
                None => {}
            }
            if !carried.is_empty() {
                let chunk = Bytes::from(std::mem::take(&mut carried));
                let one = &order[position..=position];
                match self.body_chunk(body, one, chunk, false, limit).await {
                    Passage::Released { data, .. } => carried = data,
                    Passage::Held => {}
                    stopped @ Passage::Stopped(_) => return stopped,
                }
            }
            if let Step::Stop(stop) = self.phase(index, phase, true).await {
                return Passage::Stopped(stop);
            }
            if let Some(held) = self.with_body(index, body, std::mem::take).await {
                carried.extend_from_slice(&held);
            }
        }
        Passage::Released {
            data: carried,
            changed: true,
        }
    }

    /// Runs `f` on the request or response body buffer of stream `index`, if its VM still
    /// holds it.
    async fn with_body<R>(
        &self,
        index: usize,
        phase: Phase,
        f: impl FnOnce(&mut Vec<u8>) -> R,
    ) -> Option<R> {
        let active = &self.actives[index];
        let Live::Holds(mut slot) = live(active).await else {
            return None;
        };
        let stream = slot.vm.stream_mut(active.id)?;
        Some(f(if phase.is_request() {
            &mut stream.request_body
        } else {
            &mut stream.response_body
        }))
    }

    /// Whether the VM of stream `index` was rebuilt, and if so whether the request goes on
    /// without it at `phase`; `None` while it holds the stream.
    async fn rebuilt(&self, index: usize, phase: Phase) -> Option<bool> {
        match live(&self.actives[index]).await {
            Live::Holds(_) => None,
            Live::Rebuilt(slot) => Some(goes_on_without(&slot, phase)),
        }
    }

    /// Runs `f` on the stream of every plugin whose VM still holds it.
    pub(crate) async fn each_stream(&self, mut f: impl FnMut(&mut HttpStream)) {
        for active in &self.actives {
            if let Live::Holds(mut slot) = live(active).await {
                if let Some(stream) = slot.vm.stream_mut(active.id) {
                    f(stream);
                }
            }
        }
    }

    /// Whether the plugin of stream `index` changed the request headers with route clearing
    /// on.
    pub(crate) async fn clears_route(&self, index: usize) -> bool {
        let active = &self.actives[index];
        match live(active).await {
            Live::Holds(mut slot) => slot
                .vm
                .stream_mut(active.id)
                .is_some_and(|stream| stream.clears_route),
            Live::Rebuilt(_) => false,
        }
    }

    /// Ends every stream (`on_log`, `on_done`, `on_delete`) and returns what they wrote for
    /// the access log. Each plugin's `on_log` reads the request and response
    /// headers, as in Envoy.
    pub(crate) async fn finish(&mut self) -> PluginLog {
        let mut plugin_log = PluginLog::default();
        for active in std::mem::take(&mut self.actives) {
            let Live::Holds(mut slot) = live(&active).await else {
                continue;
            };
            slot.forget(active.id);
            if slot.vm.stream_mut(active.id).is_none() {
                continue;
            }
            self.headers.swap_with(&mut slot, active.id);
            match slot.vm.finish_stream(active.id).await {
                Ok(Some(mut stream)) => {
                    self.headers.swap(&mut stream);
                    // Read after `on_log`, where plugins write their access-log attributes.
                    for property in LOG_PROPERTIES {
                        if let Some(raw) = stream.property(property) {
                            plugin_log.add(property, raw);
                        }
                    }
                }
                Ok(None) => {}
                // The headers went with the failed stream: later plugins log without them.
                Err(e) => {
                    tracing::error!(request_id = %self.request_id, "{e}");
                    slot.recover(&e, Crash::InRequest);
                }
            }
        }
        plugin_log
    }
}

/// Keeps what plugin `index` injected until its data can go on; what the same plugin
/// injected before and has not gone on yet comes first.
fn keep_injected(
    slot: &mut Option<(usize, Injected)>,
    request_id: &str,
    index: usize,
    mut injected: Injected,
) {
    if let Some((earlier, mut kept)) = slot.take() {
        if earlier == index {
            kept.data.append(&mut injected.data);
            kept.end_of_stream |= injected.end_of_stream;
            injected = kept;
        } else {
            tracing::warn!(%request_id, "two plugins injected response data from their header phases: only the later one's goes on");
        }
    }
    *slot = Some((index, injected));
}

fn too_large(phase: Phase) -> Stop {
    if phase.is_request() {
        Stop::Fail(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large".into(),
        )
    } else {
        Stop::Fail(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "response body too large".into(),
        )
    }
}
