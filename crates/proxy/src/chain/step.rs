//! The walk's vocabulary: which [`Phase`] runs, what one plugin's phase did ([`Step`]), and
//! how a request is stopped ([`Stop`]).

use wasmgate_host::abi::HeaderAction;
use wasmgate_host::{LocalReply, PhaseOutcome};

/// A plugin phase the walk runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    RequestHeaders,
    RequestBody,
    RequestTrailers,
    ResponseHeaders,
    ResponseBody,
    ResponseTrailers,
}

impl Phase {
    pub(crate) fn is_body(self) -> bool {
        matches!(self, Phase::RequestBody | Phase::ResponseBody)
    }

    pub(crate) fn is_request(self) -> bool {
        matches!(
            self,
            Phase::RequestHeaders | Phase::RequestBody | Phase::RequestTrailers
        )
    }

    /// The body phase of the same direction.
    pub(crate) fn body(self) -> Phase {
        if self.is_request() {
            Phase::RequestBody
        } else {
            Phase::ResponseBody
        }
    }
}

/// What one plugin's phase did.
pub(crate) enum Step {
    /// Go on to the next plugin.
    Continue,
    /// The plugin holds the data (a body phase before the end of the stream, or request
    /// headers held with Higress's `StopIteration` while the body still comes to it).
    Held,
    /// The request stops here.
    Stop(Stop),
}

/// How a request stops before the upstream's answer goes on.
pub(crate) enum Stop {
    /// A plugin answers with this; the response phases of the plugins before it run.
    Reply(LocalReply),
    /// The gateway answers with this status and text, no more phases.
    Fail(http::StatusCode, String),
}

/// A plugin that crashed (or could not start its stream) fails the request as Envoy's
/// wasm filter does: 503 with no body. The log line says which plugin and why.
pub(crate) const PLUGIN_FAILED: http::StatusCode = http::StatusCode::SERVICE_UNAVAILABLE;

/// The stop of a plugin that crashed.
pub(crate) fn failure() -> Stop {
    Stop::Fail(PLUGIN_FAILED, String::new())
}

/// The step of a plugin that crashed.
pub(crate) fn failed() -> Step {
    Step::Stop(failure())
}

/// The stop of a plugin that closed the stream.
pub(crate) fn closed(name: &str) -> Step {
    Step::Stop(Stop::Fail(
        http::StatusCode::BAD_GATEWAY,
        format!("plugin {name} closed the stream"),
    ))
}

/// The step of a phase that ended without a pause (or whose pause ended).
pub(crate) fn outcome_step(outcome: PhaseOutcome, name: &str) -> Step {
    match outcome {
        PhaseOutcome::Continue | PhaseOutcome::Pause { .. } => Step::Continue,
        PhaseOutcome::LocalReply(reply) => Step::Stop(Stop::Reply(reply)),
        PhaseOutcome::Close => closed(name),
    }
}

/// Whether a stop lets data keep flowing to the plugin instead of waiting for a resume: a
/// body phase before the end of the stream, or headers stopped with Higress's
/// `StopIteration` (the headers wait; the body still comes to this plugin).
pub(crate) fn holds_data(phase: Phase, action: u32, end_of_stream: bool) -> bool {
    let headers = matches!(phase, Phase::RequestHeaders | Phase::ResponseHeaders);
    !end_of_stream && (phase.is_body() || (headers && action == HeaderAction::StopIteration.raw()))
}
