//! The HTTP and Redis callouts of [`TestHost`]: what a plugin called, and the answers the
//! test gives.

use wasmgate_host::block_on;
use wasmgate_host::{HostError, HttpCallout, HttpCalloutResponse, RedisCallout, RedisInit};

use super::{StreamState, TestHost};

impl TestHost {
    /// HTTP callouts made and not answered yet, oldest first.
    pub fn http_callouts(&self) -> Vec<HttpCallout> {
        self.recorder
            .lock()
            .http
            .iter()
            .filter(|c| !self.answered.contains(&c.token))
            .cloned()
            .collect()
    }

    /// Redis commands sent and not answered yet, oldest first.
    pub fn redis_callouts(&self) -> Vec<RedisCallout> {
        self.recorder
            .lock()
            .redis
            .iter()
            .filter(|c| !self.answered.contains(&c.token))
            .cloned()
            .collect()
    }

    /// How many Redis commands were answered so far.
    pub fn answered_redis_count(&self) -> usize {
        let recorder = self.recorder.lock();
        recorder
            .redis
            .iter()
            .filter(|c| self.answered.contains(&c.token))
            .count()
    }

    /// Every `proxy_redis_init` the plugin made.
    pub fn redis_inits(&self) -> Vec<RedisInit> {
        self.recorder.lock().redis_inits.clone()
    }

    /// Answers an HTTP callout; `None` fails it (as a timeout or reset does).
    pub fn answer_http(
        &mut self,
        token: u32,
        response: Option<HttpCalloutResponse>,
    ) -> Result<StreamState, HostError> {
        self.answered.push(token);
        block_on(self.vm.on_http_call_response(token, response))?;
        Ok(self.follow_signals())
    }

    /// Answers the oldest pending HTTP callout.
    pub fn answer_first_http(
        &mut self,
        response: Option<HttpCalloutResponse>,
    ) -> Result<StreamState, HostError> {
        let token = self
            .http_callouts()
            .first()
            .map(|c| c.token)
            .ok_or_else(|| HostError::Engine("no HTTP callout is pending".into()))?;
        self.answer_http(token, response)
    }

    /// Answers a Redis command with a status (0: ok) and RESP bytes.
    pub fn answer_redis(
        &mut self,
        token: u32,
        status: i32,
        reply: &[u8],
    ) -> Result<StreamState, HostError> {
        self.answered.push(token);
        block_on(
            self.vm
                .on_redis_call_response(token, status, reply.to_vec()),
        )?;
        Ok(self.follow_signals())
    }
}
