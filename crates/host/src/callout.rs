//! How callouts leave the host. The embedder implements [`CalloutHandler`]: the gateway sends
//! calls over the network, the test kit hands them to the test. Answers come back through
//! `PluginVm::on_http_call_response` and `PluginVm::on_redis_call_response` with the token
//! given here.

use wasmgate_abi::Status;

use crate::stream::HeaderMap;

/// An HTTP call a plugin made with `proxy_http_call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCallout {
    /// The id the answer must carry.
    pub token: u32,
    /// The context that made the call (a stream id, or the root context id).
    pub context_id: u32,
    /// The cluster name the plugin gave (`outbound|8080||auth.dns`, …).
    pub upstream: String,
    /// Request headers, `:method`, `:path` and `:authority` included.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Vec<u8>,
    /// Request trailers.
    pub trailers: HeaderMap,
    /// The plugin's timeout in milliseconds.
    pub timeout_ms: u32,
}

impl HttpCallout {
    /// A pseudo-header or header value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }
}

/// The answer to an HTTP callout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpCalloutResponse {
    /// Headers, `:status` included.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
    /// Trailers.
    pub trailers: HeaderMap,
}

impl HttpCalloutResponse {
    /// A response with a status, text headers and a body.
    pub fn new(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        let mut map = HeaderMap::new();
        map.add(b":status", status.to_string().as_bytes());
        for (k, v) in headers {
            map.add(k.as_bytes(), v.as_bytes());
        }
        HttpCalloutResponse {
            headers: map,
            body: body.into(),
            trailers: HeaderMap::new(),
        }
    }
}

/// Higress's `proxy_redis_init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisInit {
    /// Cluster name, with `?db=…&buffer_flush_timeout=…` parameters as the plugin sent them.
    pub upstream: String,
    /// AUTH user (may be empty).
    pub username: String,
    /// AUTH password (may be empty).
    pub password: String,
    /// Per-command timeout in milliseconds.
    pub timeout_ms: u32,
}

/// Higress's `proxy_redis_call`: RESP bytes to send as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisCallout {
    /// The id the answer must carry.
    pub token: u32,
    /// The context that made the call.
    pub context_id: u32,
    /// Cluster name (no parameters).
    pub upstream: String,
    /// The RESP-encoded command.
    pub query: Vec<u8>,
}

/// Where the host sends callouts. Each method answers at once whether the call was taken;
/// the reply arrives later through the VM.
pub trait CalloutHandler {
    /// Takes an HTTP call. `Err(Status::BadArgument)` means an unknown cluster.
    fn http_call(&mut self, call: HttpCallout) -> Result<(), Status>;
    /// Sets up a Redis cluster for later calls. `Status::BadArgument` means an unknown cluster.
    fn redis_init(&mut self, init: RedisInit) -> Status;
    /// Takes a Redis command.
    fn redis_call(&mut self, call: RedisCallout) -> Result<(), Status>;
}

/// A handler for hosts with no network: every cluster is unknown.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCallouts;

impl CalloutHandler for NoCallouts {
    fn http_call(&mut self, _call: HttpCallout) -> Result<(), Status> {
        Err(Status::BadArgument)
    }

    fn redis_init(&mut self, _init: RedisInit) -> Status {
        Status::BadArgument
    }

    fn redis_call(&mut self, _call: RedisCallout) -> Result<(), Status> {
        Err(Status::BadArgument)
    }
}
