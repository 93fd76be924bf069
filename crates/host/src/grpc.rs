//! The gRPC calls and streams a VM has open, kept by token with Envoy's rules: which host
//! call a token accepts, when a token is forgotten, and which callback each event becomes.
//!
//! As in Envoy's wasm host (`source/extensions/common/wasm/context.cc`), every call belongs
//! to the root context, so a call outlives the request that made it; tokens step by 4 with
//! the low bits naming the kind (1 a unary call, 2 a stream). A unary call delivers only
//! its last message (`proxy_on_grpc_receive`, no close after it) or, on a failure status or
//! an OK without a message (INTERNAL then), `proxy_on_grpc_close`; it gets no metadata
//! callbacks. A stream delivers everything; it is forgotten once both sides closed (the
//! plugin by `proxy_grpc_close`), or when the plugin cancels it. Events for a forgotten
//! token are dropped.

use rustc_hash::FxHashMap;
use wasmgate_abi::{GrpcCode, Status};

use crate::callout::GrpcEvent;

/// The token kind of a unary call.
pub(crate) const CALL_KIND: u32 = 1;
/// The token kind of a stream.
pub(crate) const STREAM_KIND: u32 = 2;

/// One open call or stream.
#[derive(Debug, Default)]
struct Open {
    /// A unary call's last message so far.
    message: Option<Vec<u8>>,
    /// The plugin sent the end of its messages (with `end_of_stream` or a close).
    sent_end: bool,
    /// The plugin called `proxy_grpc_close`.
    local_closed: bool,
    /// The status arrived.
    remote_closed: bool,
}

/// What the host tells the embedder after `proxy_grpc_close`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Closing {
    /// Cancel the call (a unary call's close is a cancel in Envoy).
    Cancel,
    /// Half-close the stream.
    HalfClose,
    /// Nothing to send: the stream's end went already.
    Nothing,
}

/// The open calls and streams of one VM.
#[derive(Debug, Default)]
pub(crate) struct GrpcCalls {
    open: FxHashMap<u32, Open>,
}

fn kind(token: u32) -> u32 {
    token & 3
}

impl GrpcCalls {
    /// Starts keeping a new call or stream.
    pub(crate) fn opened(&mut self, token: u32) {
        self.open.insert(token, Open::default());
    }

    /// Forgets a token whose call did not start.
    pub(crate) fn forget(&mut self, token: u32) {
        self.open.remove(&token);
    }

    /// `proxy_grpc_send`: whether the message goes out (not after the stream's end or
    /// status), or why the call is refused.
    pub(crate) fn send(&mut self, token: u32, end_of_stream: bool) -> Result<bool, Status> {
        if kind(token) != STREAM_KIND {
            return Err(Status::BadArgument);
        }
        let open = self.open.get_mut(&token).ok_or(Status::NotFound)?;
        let goes = !open.sent_end && !open.remote_closed;
        open.sent_end |= end_of_stream;
        Ok(goes)
    }

    /// `proxy_grpc_close`.
    pub(crate) fn close(&mut self, token: u32) -> Result<Closing, Status> {
        match kind(token) {
            CALL_KIND => {
                self.open.remove(&token).ok_or(Status::NotFound)?;
                Ok(Closing::Cancel)
            }
            STREAM_KIND => {
                let open = self.open.get_mut(&token).ok_or(Status::NotFound)?;
                let closing = if open.sent_end || open.remote_closed {
                    Closing::Nothing
                } else {
                    Closing::HalfClose
                };
                open.sent_end = true;
                open.local_closed = true;
                if open.remote_closed {
                    self.open.remove(&token);
                }
                Ok(closing)
            }
            _ => Err(Status::BadArgument),
        }
    }

    /// `proxy_grpc_cancel`: whether the embedder must cancel it (not when it ended).
    pub(crate) fn cancel(&mut self, token: u32) -> Result<bool, Status> {
        if !matches!(kind(token), CALL_KIND | STREAM_KIND) {
            return Err(Status::BadArgument);
        }
        let open = self.open.remove(&token).ok_or(Status::NotFound)?;
        Ok(!open.remote_closed)
    }

    /// What the plugin is told of an event, if anything.
    pub(crate) fn event(&mut self, token: u32, event: GrpcEvent) -> Option<GrpcEvent> {
        let open = self.open.get_mut(&token)?;
        if open.remote_closed {
            return None;
        }
        if kind(token) == CALL_KIND {
            return match event {
                GrpcEvent::Message(message) => {
                    open.message = Some(message);
                    None
                }
                GrpcEvent::Close { status, message } => {
                    let last = self.open.remove(&token).and_then(|o| o.message);
                    Some(match (status, last) {
                        (0, Some(reply)) => GrpcEvent::Message(reply),
                        (0, None) => GrpcEvent::Close {
                            status: GrpcCode::Internal.raw(),
                            message: String::new(),
                        },
                        (status, _) => GrpcEvent::Close { status, message },
                    })
                }
                GrpcEvent::InitialMetadata(_) | GrpcEvent::TrailingMetadata(_) => None,
            };
        }
        if matches!(event, GrpcEvent::Close { .. }) {
            open.remote_closed = true;
            if open.local_closed {
                self.open.remove(&token);
            }
        }
        Some(event)
    }

    /// How many calls and streams are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::HeaderMap;

    const CALL: u32 = 4 | CALL_KIND;
    const STREAM: u32 = 8 | STREAM_KIND;

    fn close(status: u32, message: &str) -> GrpcEvent {
        GrpcEvent::Close {
            status,
            message: message.into(),
        }
    }

    #[test]
    fn a_unary_call_delivers_its_last_message_and_no_metadata() {
        let mut calls = GrpcCalls::default();
        calls.opened(CALL);
        let headers = GrpcEvent::InitialMetadata(HeaderMap::new());
        assert_eq!(calls.event(CALL, headers), None);
        assert_eq!(calls.event(CALL, GrpcEvent::Message(b"a".to_vec())), None);
        assert_eq!(calls.event(CALL, GrpcEvent::Message(b"b".to_vec())), None);
        assert_eq!(
            calls.event(CALL, close(0, "")),
            Some(GrpcEvent::Message(b"b".to_vec()))
        );
        assert_eq!(calls.len(), 0);
        assert_eq!(calls.close(CALL), Err(Status::NotFound));
    }

    #[test]
    fn a_unary_ok_without_a_message_is_internal_and_a_failure_keeps_its_status() {
        let mut calls = GrpcCalls::default();
        calls.opened(CALL);
        assert_eq!(calls.event(CALL, close(0, "")), Some(close(13, "")));
        calls.opened(CALL + 4);
        assert_eq!(
            calls.event(CALL + 4, close(5, "no such key")),
            Some(close(5, "no such key"))
        );
    }

    #[test]
    fn a_stream_is_kept_until_both_sides_closed() {
        let mut calls = GrpcCalls::default();
        calls.opened(STREAM);
        assert_eq!(calls.send(STREAM, false), Ok(true));
        assert_eq!(calls.send(STREAM, true), Ok(true));
        assert_eq!(calls.send(STREAM, false), Ok(false));
        assert_eq!(calls.event(STREAM, close(0, "")), Some(close(0, "")));
        assert_eq!(calls.event(STREAM, close(0, "")), None);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls.close(STREAM), Ok(Closing::Nothing));
        assert_eq!(calls.len(), 0);
        assert_eq!(calls.close(STREAM), Err(Status::NotFound));
    }

    #[test]
    fn a_cancelled_stream_gets_nothing_more() {
        let mut calls = GrpcCalls::default();
        calls.opened(STREAM);
        assert_eq!(calls.close(STREAM), Ok(Closing::HalfClose));
        assert_eq!(calls.cancel(STREAM), Ok(true));
        assert_eq!(calls.event(STREAM, GrpcEvent::Message(vec![1])), None);
        assert_eq!(calls.cancel(STREAM), Err(Status::NotFound));
    }

    #[test]
    fn tokens_of_another_kind_are_bad_arguments() {
        let mut calls = GrpcCalls::default();
        calls.opened(CALL);
        assert_eq!(calls.send(CALL, false), Err(Status::BadArgument));
        assert_eq!(calls.close(4), Err(Status::BadArgument));
        assert_eq!(calls.cancel(7), Err(Status::BadArgument));
        assert_eq!(calls.close(CALL), Ok(Closing::Cancel));
    }
}
