//! The gRPC client: unary calls to a service on a [`Cluster`], answered through a callback
//! or awaited, and streams whose events go to a handler.
//!
//! ```no_run
//! # use wasmgate_sdk::prelude::*;
//! # fn handler(ctx: &HttpContext) -> Result<HeaderAction> {
//! let authz = GrpcClient::new(StaticIpCluster::new("authz", 9000));
//! authz
//!     .call("authz.Checker", "Check", b"user=1".to_vec())
//!     .metadata("x-caller", "gateway")
//!     .timeout_ms(200)
//!     .send(ctx, |ctx, answer| match answer {
//!         Ok(reply) if reply == b"allow" => Ok(()),
//!         Ok(_) => ctx.send_response(403, &[], "denied"),
//!         Err(e) => ctx.send_response(503, &[], e.to_string()),
//!     })?;
//! Ok(HeaderAction::StopIteration)
//! # }
//! ```
//!
//! Messages are bytes: encode them with the protobuf crate of your choice (`prost`, …). A
//! call's answer is its one response message; a status other than OK (the server's, or 14
//! UNAVAILABLE for a service that cannot be reached, the timeout's, …) is an
//! [`Error::Grpc`]; a call the host refuses (an unknown cluster) fails at once. Unlike the
//! HTTP client, the answer of [`GrpcCall::send`] runs in the request's context and resumes
//! the request after, like [`HttpRequest::send`](crate::HttpRequest::send).
//!
//! A stream ([`GrpcClient::stream`]) belongs to the plugin ([`GrpcStreamRequest::open`]) or
//! to a request, which waits for its close ([`GrpcStreamRequest::open_for`]): its handler
//! gets the server's metadata, each message and the close as [`GrpcStreamEvent`]s, in that
//! context; [`GrpcStream`] sends messages, half-closes or cancels it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::IntoFuture;
use std::rc::Rc;

use wasmgate_abi::grpc::GrpcService;
use wasmgate_abi::{BufferType, MapType};

use crate::cluster::Cluster;
use crate::context::HttpContext;
use crate::error::{Error, Result};
use crate::outcome::IntoOutcome;
use crate::waiter::{CalloutFuture, Waiter};
use crate::{context, raw, task};

/// The default timeout of a unary call, in milliseconds (as the HTTP client's).
pub const DEFAULT_TIMEOUT_MS: u32 = 500;

type PluginHandler = Rc<RefCell<dyn FnMut(&GrpcStream, GrpcStreamEvent)>>;
type RequestHandler =
    Rc<RefCell<dyn FnMut(&HttpContext, &GrpcStream, GrpcStreamEvent) -> Result<()>>>;

/// Who gets a stream's events.
#[derive(Clone)]
enum StreamHandler {
    /// The plugin.
    Plugin(PluginHandler),
    /// A request (its context id), which waits for the stream's close.
    Request(u32, RequestHandler),
}

thread_local! {
    static CALLS: RefCell<HashMap<u32, Waiter<Vec<u8>>>> = RefCell::new(HashMap::new());
    static STREAMS: RefCell<HashMap<u32, StreamHandler>> = RefCell::new(HashMap::new());
}

fn park(token: u32, waiter: Waiter<Vec<u8>>) {
    CALLS.with(|c| c.borrow_mut().insert(token, waiter));
}

/// Calls the services of one cluster. Cheap to clone.
#[derive(Clone)]
pub struct GrpcClient {
    cluster: Rc<dyn Cluster>,
    authority: Option<String>,
}

impl std::fmt::Debug for GrpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcClient")
            .field("cluster", &self.cluster.cluster_name())
            .field("authority", &self.authority)
            .finish()
    }
}

impl GrpcClient {
    /// A client for a cluster; calls carry the cluster's name as `:authority`, as Envoy's.
    pub fn new(cluster: impl Cluster + 'static) -> Self {
        GrpcClient {
            cluster: Rc::new(cluster),
            authority: None,
        }
    }

    /// Sets the `:authority` of the calls (sent as a `GrpcService`'s `authority`).
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = Some(authority.into());
        self
    }

    /// The cluster's Envoy name.
    pub fn cluster_name(&self) -> String {
        self.cluster.cluster_name()
    }

    /// The `service` argument of the host calls: the cluster's name, or a `GrpcService`
    /// when an authority is set.
    fn service_argument(&self) -> Vec<u8> {
        let name = self.cluster.cluster_name();
        match &self.authority {
            None => name.into_bytes(),
            Some(authority) => GrpcService {
                authority: authority.clone(),
                ..GrpcService::cluster(name)
            }
            .encode(),
        }
    }

    /// A unary call of `method` of `service` (its full name, `package.Service`) with one
    /// request message.
    pub fn call(&self, service: &str, method: &str, message: impl Into<Vec<u8>>) -> GrpcCall {
        GrpcCall {
            client: self.clone(),
            service: service.to_string(),
            method: method.to_string(),
            metadata: Vec::new(),
            message: message.into(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }

    /// A stream to `method` of `service`; open it with [`GrpcStreamRequest::open`].
    pub fn stream(&self, service: &str, method: &str) -> GrpcStreamRequest {
        GrpcStreamRequest {
            client: self.clone(),
            service: service.to_string(),
            method: method.to_string(),
            metadata: Vec::new(),
        }
    }
}

/// A unary call being built. Send it with [`send`](Self::send) (callback) or `.await` it.
#[must_use = "a call does nothing until it is sent or awaited"]
pub struct GrpcCall {
    client: GrpcClient,
    service: String,
    method: String,
    metadata: Vec<(String, String)>,
    message: Vec<u8>,
    timeout_ms: u32,
}

impl GrpcCall {
    /// Adds request metadata (a header of the call).
    pub fn metadata(mut self, name: &str, value: &str) -> Self {
        self.metadata.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the timeout (default 500 ms; 0: none). It goes to the server as `grpc-timeout`.
    pub fn timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    fn dispatch(&self) -> Result<u32> {
        raw::grpc::call(
            &self.client.service_argument(),
            &self.service,
            &self.method,
            &self.metadata,
            &self.message,
            self.timeout_ms,
        )
        .map_err(|e| refused(&self.client, &self.service, &self.method, e))
    }

    /// Sends the call for `ctx`; `callback` runs with the response message (or the
    /// error) in the request's context. The phase that sent it stops until the callback has
    /// run, then the request resumes unless the callback replied locally or resumed it. A
    /// callback returning `Err` fails the request with 500. An error is also returned here
    /// when the host refuses the call (the callback is not run then).
    pub fn send<R: IntoOutcome<()>>(
        self,
        ctx: &HttpContext,
        callback: impl FnOnce(&HttpContext, Result<Vec<u8>>) -> R + 'static,
    ) -> Result<u32> {
        ctx.enter()?;
        let token = self.dispatch()?;
        park(token, Waiter::for_request(ctx, callback));
        Ok(token)
    }

    /// Sends the call on behalf of the plugin, not of a request (no pause, no resume).
    pub fn send_detached(self, callback: impl FnOnce(Result<Vec<u8>>) + 'static) -> Result<u32> {
        let token = self.dispatch()?;
        park(token, Waiter::for_plugin(callback));
        Ok(token)
    }
}

impl IntoFuture for GrpcCall {
    type Output = Result<Vec<u8>>;
    type IntoFuture = GrpcFuture;

    /// Sends the call now; the future resolves with the response message.
    fn into_future(self) -> GrpcFuture {
        CalloutFuture::new(self.dispatch(), park)
    }
}

/// The answer to an awaited [`GrpcCall`].
pub type GrpcFuture = CalloutFuture<Vec<u8>>;

/// Cancels a unary call sent earlier: its callback never runs (an awaiting future never
/// resolves). `Err` when it already ended.
pub fn cancel_call(token: u32) -> Result<()> {
    CALLS.with(|c| c.borrow_mut().remove(&token));
    raw::grpc::cancel(token)
}

fn refused(client: &GrpcClient, service: &str, method: &str, e: Error) -> Error {
    Error::msg(format!(
        "gRPC {service}/{method} to {}: {e} (a PARSE_FAILURE or BAD_ARGUMENT means the host \
         knows no such cluster)",
        client.cluster_name()
    ))
}

/// A stream being built; [`open`](Self::open) it with its handler.
#[must_use = "a stream does nothing until it is opened"]
pub struct GrpcStreamRequest {
    client: GrpcClient,
    service: String,
    method: String,
    metadata: Vec<(String, String)>,
}

impl GrpcStreamRequest {
    /// Adds request metadata (a header of the stream).
    pub fn metadata(mut self, name: &str, value: &str) -> Self {
        self.metadata.push((name.to_string(), value.to_string()));
        self
    }

    /// Asks the host for the stream; its token, or why it refused.
    fn start(&self) -> Result<u32> {
        raw::grpc::stream(
            &self.client.service_argument(),
            &self.service,
            &self.method,
            &self.metadata,
        )
        .map_err(|e| refused(&self.client, &self.service, &self.method, e))
    }

    /// Opens the stream; `handler` gets its events in the plugin's context until it
    /// closes or is cancelled.
    pub fn open(
        self,
        handler: impl FnMut(&GrpcStream, GrpcStreamEvent) + 'static,
    ) -> Result<GrpcStream> {
        let token = self.start()?;
        let handler = StreamHandler::Plugin(Rc::new(RefCell::new(handler)));
        STREAMS.with(|s| s.borrow_mut().insert(token, handler));
        Ok(GrpcStream { token })
    }

    /// Opens the stream for the request `ctx`: `handler` gets its events in the request's
    /// context, and the phase that opened it stops until the stream closes (or is
    /// cancelled); then the request resumes unless the handler replied locally or resumed
    /// it. A handler returning `Err` fails the request with 500.
    pub fn open_for<R: IntoOutcome<()>>(
        self,
        ctx: &HttpContext,
        mut handler: impl FnMut(&HttpContext, &GrpcStream, GrpcStreamEvent) -> R + 'static,
    ) -> Result<GrpcStream> {
        ctx.enter()?;
        let token = self.start()?;
        task::work_started(ctx.id());
        let handler: RequestHandler = Rc::new(RefCell::new(
            move |ctx: &HttpContext, stream: &GrpcStream, event| {
                handler(ctx, stream, event).into_outcome()
            },
        ));
        let handler = StreamHandler::Request(ctx.id(), handler);
        STREAMS.with(|s| s.borrow_mut().insert(token, handler));
        Ok(GrpcStream { token })
    }
}

/// An open stream: send messages on it, half-close it, cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcStream {
    token: u32,
}

impl GrpcStream {
    /// The host's token of the stream.
    pub fn token(&self) -> u32 {
        self.token
    }

    /// Sends a message.
    pub fn send(&self, message: &[u8]) -> Result<()> {
        raw::grpc::send(self.token, message, false)
    }

    /// Sends the last message: the stream is half-closed after it.
    pub fn send_last(&self, message: &[u8]) -> Result<()> {
        raw::grpc::send(self.token, message, true)
    }

    /// Half-closes the stream: no more messages from the plugin; the server's still come.
    pub fn close(&self) -> Result<()> {
        raw::grpc::close(self.token)
    }

    /// Resets the stream: the handler gets nothing more (a request that waited for it
    /// resumes, unless it was answered).
    pub fn cancel(&self) -> Result<()> {
        let handler = STREAMS.with(|s| s.borrow_mut().remove(&self.token));
        let cancelled = raw::grpc::cancel(self.token);
        if let Some(StreamHandler::Request(owner, _)) = handler {
            task::work_finished(owner, Ok(()), "grpc stream");
        }
        cancelled
    }
}

/// What a stream's handler gets, in the order it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcStreamEvent {
    /// The server's response headers (empty for a trailers-only answer or a failure).
    InitialMetadata(Vec<(String, String)>),
    /// One message from the server.
    Message(Vec<u8>),
    /// The server's trailers.
    TrailingMetadata(Vec<(String, String)>),
    /// The end: the gRPC status code (0 OK) and message. Nothing follows.
    Close {
        /// The gRPC status code.
        code: u32,
        /// The status message.
        message: String,
    },
}

fn metadata(map: MapType) -> Vec<(String, String)> {
    raw::get_map(map)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect()
}

/// Runs a stream's handler with one event (no borrow of the table is held meanwhile); the
/// last one (`last`) ends the stream's hold on its request. Whether the stream was known.
fn to_stream(token: u32, last: bool, event: impl FnOnce() -> GrpcStreamEvent) -> bool {
    let Some(handler) = STREAMS.with(|s| s.borrow().get(&token).cloned()) else {
        return false;
    };
    if last {
        STREAMS.with(|s| s.borrow_mut().remove(&token));
    }
    let event = event();
    let stream = GrpcStream { token };
    match handler {
        StreamHandler::Plugin(handler) => {
            if let Ok(mut handler) = handler.try_borrow_mut() {
                handler(&stream, event);
            }
        }
        StreamHandler::Request(owner, handler) => {
            // A request that ended in the meantime gets no events.
            let Some(ctx) = context::live(owner) else {
                return true;
            };
            let result = match (ctx.enter(), handler.try_borrow_mut()) {
                (Ok(()), Ok(mut handler)) => handler(&ctx, &stream, event),
                (Err(e), _) => Err(e),
                (_, Err(_)) => Ok(()),
            };
            if last {
                task::work_finished(owner, result, "grpc stream handler");
            } else if let Err(e) = result {
                task::fail(&ctx, "grpc stream handler", &e);
            }
        }
    }
    true
}

/// `proxy_on_grpc_receive_initial_metadata`.
pub(crate) fn on_initial_metadata(token: u32) {
    to_stream(token, false, || {
        GrpcStreamEvent::InitialMetadata(metadata(MapType::GrpcCallInitialMetadata))
    });
}

/// `proxy_on_grpc_receive_trailing_metadata`.
pub(crate) fn on_trailing_metadata(token: u32) {
    to_stream(token, false, || {
        GrpcStreamEvent::TrailingMetadata(metadata(MapType::GrpcCallTrailingMetadata))
    });
}

/// `proxy_on_grpc_receive`: a unary call's answer, or a stream's message.
pub(crate) fn on_receive(token: u32, size: usize) {
    let message =
        || raw::get_buffer(BufferType::GrpcReceiveBuffer, 0, size).map(Option::unwrap_or_default);
    if let Some(waiter) = CALLS.with(|c| c.borrow_mut().remove(&token)) {
        waiter.deliver(message(), "grpc callback");
        return;
    }
    to_stream(token, false, || {
        GrpcStreamEvent::Message(message().unwrap_or_default())
    });
}

/// `proxy_on_grpc_close`: a unary call's failure, or a stream's end.
pub(crate) fn on_close(token: u32, code: u32) {
    let message = raw::grpc::status().map(|(_, m)| m).unwrap_or_default();
    if let Some(waiter) = CALLS.with(|c| c.borrow_mut().remove(&token)) {
        waiter.deliver(Err(Error::Grpc { code, message }), "grpc callback");
        return;
    }
    let close = || GrpcStreamEvent::Close {
        code,
        message: message.clone(),
    };
    if to_stream(token, true, close) {
        // The host keeps a stream until the plugin closed its side too.
        let _ = raw::grpc::close(token);
    }
}
