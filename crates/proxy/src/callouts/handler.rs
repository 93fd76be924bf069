//! The [`CalloutHandler`] each VM gets: it checks the cluster a plugin names and queues the
//! call (HTTP, Redis, gRPC, and what follows on a gRPC stream) for the worker's callout task; and the handler of the start-up check, which knows
//! the clusters but sends nothing.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use wasmgate_host::abi::Status;
use wasmgate_host::{
    CalloutHandler, GrpcCallout, GrpcStreamOpen, HttpCallout, RedisCallout, RedisInit,
};

use crate::upstream::{Clusters, Endpoint};

/// A call queued by a VM, tagged with the VM generation it belongs to.
pub(crate) enum Outbound {
    Http(u64, HttpCallout, Endpoint),
    /// Redis goes over plain TCP to the endpoint's address.
    Redis(u64, RedisCallout, String, Option<RedisInit>),
    /// A unary gRPC call, or a stream opened, to the cluster's endpoint.
    GrpcCall(u64, GrpcCallout, Endpoint),
    GrpcStream(u64, GrpcStreamOpen, Endpoint),
    /// What follows on an open stream, or cancels a call, by token.
    GrpcControl(u64, u32, GrpcControl),
}

/// A plugin's move on a gRPC call or stream it opened.
#[derive(Debug)]
pub(crate) enum GrpcControl {
    /// A message, and whether it is the last one.
    Send(Vec<u8>, bool),
    /// No more messages (half-close).
    Close,
    /// Cancel the call, reset the stream.
    Cancel,
}

/// The callout handler of one VM.
pub(crate) struct SlotCallouts {
    outbound: mpsc::UnboundedSender<Outbound>,
    clusters: Arc<Clusters>,
    generation: u64,
    redis: HashMap<String, RedisInit>,
}

impl SlotCallouts {
    pub(crate) fn new(
        outbound: mpsc::UnboundedSender<Outbound>,
        clusters: Arc<Clusters>,
        generation: u64,
    ) -> Self {
        SlotCallouts {
            outbound,
            clusters,
            generation,
            redis: HashMap::new(),
        }
    }
}

impl CalloutHandler for SlotCallouts {
    fn http_call(&mut self, call: HttpCallout) -> Result<(), Status> {
        let endpoint = self.clusters.resolve(&call.upstream).ok_or_else(|| {
            tracing::warn!("HTTP callout to unknown cluster {:?}", call.upstream);
            Status::BadArgument
        })?;
        self.outbound
            .send(Outbound::Http(self.generation, call, endpoint))
            .map_err(|_| Status::InternalFailure)
    }

    fn redis_init(&mut self, init: RedisInit) -> Status {
        let name = init
            .upstream
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        if self.clusters.resolve(&name).is_none() {
            tracing::warn!("Redis init for unknown cluster {name:?}");
            return Status::BadArgument;
        }
        self.redis.insert(name, init);
        Status::Ok
    }

    fn redis_call(&mut self, call: RedisCallout) -> Result<(), Status> {
        let address = self
            .clusters
            .resolve(&call.upstream)
            .ok_or(Status::BadArgument)?
            .address;
        let init = self.redis.get(&call.upstream).cloned();
        self.outbound
            .send(Outbound::Redis(self.generation, call, address, init))
            .map_err(|_| Status::InternalFailure)
    }

    fn grpc_call(&mut self, call: GrpcCallout) -> Result<(), Status> {
        let endpoint = self.grpc_endpoint(&call.target.cluster)?;
        self.outbound
            .send(Outbound::GrpcCall(self.generation, call, endpoint))
            .map_err(|_| Status::InternalFailure)
    }

    fn grpc_stream(&mut self, open: GrpcStreamOpen) -> Result<(), Status> {
        let endpoint = self.grpc_endpoint(&open.target.cluster)?;
        self.outbound
            .send(Outbound::GrpcStream(self.generation, open, endpoint))
            .map_err(|_| Status::InternalFailure)
    }

    fn grpc_send(&mut self, token: u32, message: Vec<u8>, end_of_stream: bool) {
        self.control(token, GrpcControl::Send(message, end_of_stream));
    }

    fn grpc_close(&mut self, token: u32) {
        self.control(token, GrpcControl::Close);
    }

    fn grpc_cancel(&mut self, token: u32) {
        self.control(token, GrpcControl::Cancel);
    }
}

impl SlotCallouts {
    fn grpc_endpoint(&self, cluster: &str) -> Result<Endpoint, Status> {
        self.clusters.resolve(cluster).ok_or_else(|| {
            tracing::warn!("gRPC call to unknown cluster {cluster:?}");
            Status::BadArgument
        })
    }

    fn control(&self, token: u32, control: GrpcControl) {
        // The task is gone only when the slot is: nothing is waiting for this call then.
        let _ = self
            .outbound
            .send(Outbound::GrpcControl(self.generation, token, control));
    }
}

/// The callout handler of the start-up check: known clusters accept, nothing is sent.
pub(crate) struct CheckCallouts(pub(crate) Arc<Clusters>);

impl CheckCallouts {
    fn known(&self, cluster: &str) -> Result<(), Status> {
        self.0.resolve(cluster).map(drop).ok_or(Status::BadArgument)
    }
}

impl CalloutHandler for CheckCallouts {
    fn http_call(&mut self, call: HttpCallout) -> Result<(), Status> {
        self.known(&call.upstream)
    }

    fn redis_init(&mut self, init: RedisInit) -> Status {
        match self.known(&init.upstream) {
            Ok(()) => Status::Ok,
            Err(status) => status,
        }
    }

    fn redis_call(&mut self, call: RedisCallout) -> Result<(), Status> {
        self.known(&call.upstream)
    }

    fn grpc_call(&mut self, call: GrpcCallout) -> Result<(), Status> {
        self.known(&call.target.cluster)
    }

    fn grpc_stream(&mut self, open: GrpcStreamOpen) -> Result<(), Status> {
        self.known(&open.target.cluster)
    }

    fn grpc_send(&mut self, _token: u32, _message: Vec<u8>, _end_of_stream: bool) {}

    fn grpc_close(&mut self, _token: u32) {}

    fn grpc_cancel(&mut self, _token: u32) {}
}
