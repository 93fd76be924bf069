//! The gRPC side of [`TestHost`]: the calls and streams a plugin opened, what it sent on
//! them, and the answers the test gives, as a gRPC server and Envoy's client would.

use wasmgate_host::abi::GrpcCode;
use wasmgate_host::block_on;
use wasmgate_host::{GrpcCallout, GrpcEvent, GrpcStreamOpen, HeaderMap, HostError};

use super::{StreamState, TestHost};
use crate::recorder::GrpcMove;

impl TestHost {
    /// Unary gRPC calls made and not answered yet, oldest first.
    pub fn grpc_calls(&self) -> Vec<GrpcCallout> {
        self.recorder
            .lock()
            .grpc_calls
            .iter()
            .filter(|c| !self.answered.contains(&c.token))
            .cloned()
            .collect()
    }

    /// gRPC streams opened and not closed by the test yet, oldest first.
    pub fn grpc_streams(&self) -> Vec<GrpcStreamOpen> {
        self.recorder
            .lock()
            .grpc_streams
            .iter()
            .filter(|s| !self.answered.contains(&s.token))
            .cloned()
            .collect()
    }

    /// What the plugin did on the call or stream `token` after opening it, in order.
    pub fn grpc_moves(&self, token: u32) -> Vec<GrpcMove> {
        self.recorder
            .lock()
            .grpc_moves
            .iter()
            .filter(|(t, _)| *t == token)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// The messages the plugin sent on the stream `token`, in order.
    pub fn grpc_sent(&self, token: u32) -> Vec<Vec<u8>> {
        self.grpc_moves(token)
            .into_iter()
            .filter_map(|m| match m {
                GrpcMove::Send(message, _) => Some(message),
                _ => None,
            })
            .collect()
    }

    /// Delivers one event of the call or stream `token` (the host applies Envoy's rules:
    /// a unary call sees only its last message at the close). A `Close` ends it for the
    /// test.
    pub fn grpc_event(&mut self, token: u32, event: GrpcEvent) -> Result<StreamState, HostError> {
        if matches!(event, GrpcEvent::Close { .. }) {
            self.answered.push(token);
        }
        block_on(self.vm.on_grpc_event(token, event))?;
        Ok(self.follow_signals())
    }

    /// Answers a unary call (or ends a stream) with OK: headers, the message, trailers
    /// with `grpc-status: 0`.
    pub fn answer_grpc(&mut self, token: u32, message: &[u8]) -> Result<StreamState, HostError> {
        self.grpc_event(token, GrpcEvent::InitialMetadata(HeaderMap::new()))?;
        self.grpc_event(token, GrpcEvent::Message(message.to_vec()))?;
        self.answer_grpc_status(token, GrpcCode::Ok, "")
    }

    /// Ends a call or stream with a status (trailers, then the close), as a server's
    /// error or a failure (UNAVAILABLE for an unreachable service, …) does.
    pub fn answer_grpc_status(
        &mut self,
        token: u32,
        code: GrpcCode,
        message: &str,
    ) -> Result<StreamState, HostError> {
        let status = code.raw().to_string();
        let mut trailers = HeaderMap::from_pairs(&[("grpc-status", status.as_str())]);
        if !message.is_empty() {
            trailers.add(b"grpc-message", message.as_bytes());
        }
        self.grpc_event(token, GrpcEvent::TrailingMetadata(trailers))?;
        let close = GrpcEvent::Close {
            status: code.raw(),
            message: message.to_string(),
        };
        self.grpc_event(token, close)
    }

    /// Answers the oldest pending unary call with OK and `message`.
    pub fn answer_first_grpc(&mut self, message: &[u8]) -> Result<StreamState, HostError> {
        let token = self
            .grpc_calls()
            .first()
            .map(|c| c.token)
            .ok_or_else(|| HostError::Engine("no gRPC call is pending".into()))?;
        self.answer_grpc(token, message)
    }
}
