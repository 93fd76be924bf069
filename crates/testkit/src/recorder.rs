//! What a plugin under test did, recorded for the test: its HTTP, Redis and gRPC callouts,
//! Redis inits (refused for clusters the test did not name), what it sent on its gRPC
//! streams, and its log lines.

use std::sync::{Arc, Mutex, MutexGuard};

use wasmgate_host::abi::Status;
use wasmgate_host::{
    CalloutHandler, GrpcCallout, GrpcStreamOpen, HttpCallout, LogRecord, LogSink, RedisCallout,
    RedisInit,
};

/// What the plugin did that a test inspects.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) http: Vec<HttpCallout>,
    pub(crate) redis: Vec<RedisCallout>,
    pub(crate) redis_inits: Vec<RedisInit>,
    pub(crate) grpc_calls: Vec<GrpcCallout>,
    pub(crate) grpc_streams: Vec<GrpcStreamOpen>,
    /// What the plugin did on its gRPC calls and streams after opening them, in order.
    pub(crate) grpc_moves: Vec<(u32, GrpcMove)>,
    pub(crate) known_clusters: Option<Vec<String>>,
    pub(crate) logs: Vec<LogRecord>,
}

/// What a plugin did on a gRPC call or stream it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcMove {
    /// A message on a stream, and whether it was the last.
    Send(Vec<u8>, bool),
    /// The half-close of a stream.
    Close,
    /// The cancel of a call or stream (a call's close too).
    Cancel,
}

/// The recorder, shared by the VM (as its callout handler and log sink) and the test.
#[derive(Clone, Default)]
pub(crate) struct Shared(Arc<Mutex<Recorder>>);

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Recorder> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn known(&self, cluster: &str) -> bool {
        let name = cluster.split('?').next().unwrap_or(cluster);
        match &self.lock().known_clusters {
            Some(list) => list.iter().any(|c| c == name),
            None => true,
        }
    }
}

impl CalloutHandler for Shared {
    fn http_call(&mut self, call: HttpCallout) -> Result<(), Status> {
        if !self.known(&call.upstream) {
            return Err(Status::BadArgument);
        }
        self.lock().http.push(call);
        Ok(())
    }

    fn redis_init(&mut self, init: RedisInit) -> Status {
        if !self.known(&init.upstream) {
            return Status::BadArgument;
        }
        self.lock().redis_inits.push(init);
        Status::Ok
    }

    fn redis_call(&mut self, call: RedisCallout) -> Result<(), Status> {
        if !self.known(&call.upstream) {
            return Err(Status::BadArgument);
        }
        self.lock().redis.push(call);
        Ok(())
    }

    fn grpc_call(&mut self, call: GrpcCallout) -> Result<(), Status> {
        if !self.known(&call.target.cluster) {
            return Err(Status::BadArgument);
        }
        self.lock().grpc_calls.push(call);
        Ok(())
    }

    fn grpc_stream(&mut self, open: GrpcStreamOpen) -> Result<(), Status> {
        if !self.known(&open.target.cluster) {
            return Err(Status::BadArgument);
        }
        self.lock().grpc_streams.push(open);
        Ok(())
    }

    fn grpc_send(&mut self, token: u32, message: Vec<u8>, end_of_stream: bool) {
        let send = GrpcMove::Send(message, end_of_stream);
        self.lock().grpc_moves.push((token, send));
    }

    fn grpc_close(&mut self, token: u32) {
        self.lock().grpc_moves.push((token, GrpcMove::Close));
    }

    fn grpc_cancel(&mut self, token: u32) {
        self.lock().grpc_moves.push((token, GrpcMove::Cancel));
    }
}

impl LogSink for Shared {
    fn log(&self, record: &LogRecord) {
        self.lock().logs.push(record.clone());
    }
}
