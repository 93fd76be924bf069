//! What a callback's result becomes for the embedder: the [`PhaseOutcome`] of a phase (the
//! action it returned, overridden by a local reply, a close or a continue it asked for during
//! the callback, as in Envoy) and the [`StreamSignal`] a held stream gets.

use wasmgate_abi::{DataAction, HeaderAction};

use crate::stream::{Deferred, LocalReply};

/// What a phase callback decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseOutcome {
    /// Go on to the next plugin or the upstream.
    Continue,
    /// Hold the stream until a [`StreamSignal`]. `action` is the effective Envoy action
    /// (for headers, `StopIteration` only survives under `0_2_100`).
    Pause {
        /// The raw action value after Envoy's rewriting.
        action: u32,
    },
    /// The plugin answered the request itself.
    LocalReply(LocalReply),
    /// The plugin closed the stream.
    Close,
}

/// What a held stream is told to do after a callback outside its phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamSignal {
    /// `proxy_continue_stream(HTTP_REQUEST)`.
    ResumeRequest,
    /// `proxy_continue_stream(HTTP_RESPONSE)`.
    ResumeResponse,
    /// A local reply.
    LocalReply(LocalReply),
    /// `proxy_close_stream`.
    Close,
    /// Data was injected into the stream's open response (the plugin's
    /// `wasmgate_open_response`): it waits in [`HttpStream::injected`](crate::stream::HttpStream::injected).
    OpenResponseData,
}

/// The actions asked for during a callback that concern its own direction (a resume of the
/// other direction waits for that direction's phase).
pub(crate) fn take_own_direction(deferred: &mut Deferred, request: bool) -> Deferred {
    let resume = if request {
        std::mem::take(&mut deferred.resume_request)
    } else {
        std::mem::take(&mut deferred.resume_response)
    };
    Deferred {
        resume_request: request && resume,
        resume_response: !request && resume,
        close: std::mem::take(&mut deferred.close),
        local_reply: deferred.local_reply.take(),
        open_response_data: std::mem::take(&mut deferred.open_response_data),
    }
}

fn resolve_deferred(deferred: Deferred, stop: bool, raw: u32) -> PhaseOutcome {
    if let Some(reply) = deferred.local_reply {
        return PhaseOutcome::LocalReply(reply);
    }
    if deferred.close {
        return PhaseOutcome::Close;
    }
    // A continue made during the callback applies once it returns.
    if stop && !(deferred.resume_request || deferred.resume_response) {
        PhaseOutcome::Pause { action: raw }
    } else {
        PhaseOutcome::Continue
    }
}

pub(crate) fn header_outcome(
    action: Option<HeaderAction>,
    deferred: Deferred,
    _request: bool,
) -> PhaseOutcome {
    let action = action.unwrap_or(HeaderAction::Continue);
    resolve_deferred(deferred, action.is_stop(), action.raw())
}

pub(crate) fn data_outcome(raw: Option<u32>, deferred: Deferred, _request: bool) -> PhaseOutcome {
    let action = raw
        .map(DataAction::from_guest)
        .unwrap_or(DataAction::Continue);
    resolve_deferred(deferred, action.is_stop(), action.raw())
}
