//! How callouts leave the host. The embedder implements [`CalloutHandler`]: the gateway sends
//! calls over the network, the test kit hands them to the test. Answers come back through
//! `PluginVm::on_http_call_response`, `PluginVm::on_redis_call_response` and
//! `PluginVm::on_grpc_event` with the token given here.
//!
//! gRPC calls (unary) and streams leave as [`GrpcCallout`] and [`GrpcStreamOpen`]; their
//! messages, half-close and cancel follow by token. The embedder reports what came back as
//! [`GrpcEvent`]s in wire order (headers, messages, trailers, the status) for both; the host
//! turns them into the callbacks Envoy gives each kind (a unary call sees only its last
//! message or its failure status).

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

/// Where a gRPC call or stream goes, and the metadata it opens with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcTarget {
    /// The cluster: the `service` argument itself, or its `GrpcService`'s
    /// `envoy_grpc.cluster_name`.
    pub cluster: String,
    /// The `:authority` of the request: the `GrpcService`'s `authority`, else the cluster
    /// name (as Envoy's gRPC client).
    pub authority: String,
    /// The fully qualified service name (`package.Service`).
    pub service: String,
    /// The method name.
    pub method: String,
    /// Metadata the plugin gave, sent as request headers.
    pub initial_metadata: HeaderMap,
}

impl GrpcTarget {
    /// The request's `:path`: `/<service>/<method>`.
    pub fn path(&self) -> String {
        format!("/{}/{}", self.service, self.method)
    }
}

/// A unary gRPC call a plugin made with `proxy_grpc_call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCallout {
    /// The id its events must carry.
    pub token: u32,
    /// The context that made the call.
    pub context_id: u32,
    /// Where it goes.
    pub target: GrpcTarget,
    /// The request message (unframed).
    pub message: Vec<u8>,
    /// The plugin's timeout in milliseconds (0: none, as in Envoy).
    pub timeout_ms: u32,
}

/// A gRPC stream a plugin opened with `proxy_grpc_stream`; its messages follow through
/// [`CalloutHandler::grpc_send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcStreamOpen {
    /// The id its events must carry.
    pub token: u32,
    /// The context that opened it.
    pub context_id: u32,
    /// Where it goes.
    pub target: GrpcTarget,
}

/// What came back on a gRPC call or stream, in the order it arrived. A call ends with one
/// `Close`; failures (no connection, a timeout, a reset, an HTTP error) are a `Close` with
/// the status Envoy's gRPC client gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcEvent {
    /// The response headers (empty for a trailers-only response).
    InitialMetadata(HeaderMap),
    /// One response message (unframed).
    Message(Vec<u8>),
    /// The trailers (for a trailers-only response, its headers).
    TrailingMetadata(HeaderMap),
    /// The end: the `grpc-status` code and `grpc-message` text.
    Close {
        /// The gRPC status code.
        status: u32,
        /// The status message (as it came, not percent-decoded, as in Envoy).
        message: String,
    },
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
    /// Takes a unary gRPC call. `Err(Status::BadArgument)` means an unknown cluster.
    fn grpc_call(&mut self, call: GrpcCallout) -> Result<(), Status>;
    /// Opens a gRPC stream. `Err(Status::BadArgument)` means an unknown cluster.
    fn grpc_stream(&mut self, open: GrpcStreamOpen) -> Result<(), Status>;
    /// Sends a message on an open stream; `end_of_stream` half-closes it after.
    fn grpc_send(&mut self, token: u32, message: Vec<u8>, end_of_stream: bool);
    /// Half-closes a stream: no more messages from the plugin (an empty end of stream).
    fn grpc_close(&mut self, token: u32);
    /// Cancels a call or resets a stream; nothing more is delivered for it.
    fn grpc_cancel(&mut self, token: u32);
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

    fn grpc_call(&mut self, _call: GrpcCallout) -> Result<(), Status> {
        Err(Status::BadArgument)
    }

    fn grpc_stream(&mut self, _open: GrpcStreamOpen) -> Result<(), Status> {
        Err(Status::BadArgument)
    }

    fn grpc_send(&mut self, _token: u32, _message: Vec<u8>, _end_of_stream: bool) {}

    fn grpc_close(&mut self, _token: u32) {}

    fn grpc_cancel(&mut self, _token: u32) {}
}
