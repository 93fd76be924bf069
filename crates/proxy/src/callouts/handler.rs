//! The [`CalloutHandler`] each VM gets: it checks the cluster a plugin names and queues the
//! call for the worker's callout task; and the handler of the start-up check, which knows
//! the clusters but sends nothing.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use wasmgate_host::abi::Status;
use wasmgate_host::{CalloutHandler, HttpCallout, RedisCallout, RedisInit};

use crate::upstream::{Clusters, Endpoint};

/// A call queued by a VM, tagged with the VM generation it belongs to.
pub(crate) enum Outbound {
    Http(u64, HttpCallout, Endpoint),
    /// Redis goes over plain TCP to the endpoint's address.
    Redis(u64, RedisCallout, String, Option<RedisInit>),
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
}
