//! What a plugin under test did, recorded for the test: its HTTP and Redis callouts and Redis
//! inits (refused for clusters the test did not name), and its log lines.

use std::sync::{Arc, Mutex, MutexGuard};

use wasmgate_host::abi::Status;
use wasmgate_host::{CalloutHandler, HttpCallout, LogRecord, LogSink, RedisCallout, RedisInit};

/// What the plugin did that a test inspects.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) http: Vec<HttpCallout>,
    pub(crate) redis: Vec<RedisCallout>,
    pub(crate) redis_inits: Vec<RedisInit>,
    pub(crate) known_clusters: Option<Vec<String>>,
    pub(crate) logs: Vec<LogRecord>,
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
}

impl LogSink for Shared {
    fn log(&self, record: &LogRecord) {
        self.lock().logs.push(record.clone());
    }
}
