//! [`HttpContext`]: one request as a plugin sees it, in every phase and in callbacks:
//! cached request facts, headers, bodies, local replies, flow control, properties and a
//! per-request store.
//!
//! An `HttpContext` is a cheap handle (clone it into callbacks and tasks). Each method that
//! talks to the host first makes this request the host's current context, so a handle used
//! from an HTTP or Redis callback, a tick or an async task acts on the right request. Once
//! the request is over, host calls through the handle fail with an error.
//!
//! This module also keeps the table of live requests. Other modules, which build on this
//! one, add methods to `HttpContext` for their own job: `headers_and_bodies`, `route_call`,
//! `attributes` (user attributes) and `task` (`spawn`).

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde_json::{Map, Value};
use wasmgate_abi::{DataAction, HeaderAction, StreamType};

use crate::error::Result;
use crate::response::HttpResponse;
use crate::{raw, state};

/// Where a request is in its life (wasm-go's `GetExecutionPhase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Before the request headers (never seen by handlers).
    #[default]
    Start,
    /// `DecodeHeader`: request headers.
    RequestHeaders,
    /// `DecodeData`: request body.
    RequestBody,
    /// `EncodeHeader`: response headers.
    ResponseHeaders,
    /// `EncodeData`: response body.
    ResponseBody,
    /// Request trailers.
    RequestTrailers,
    /// Response trailers.
    ResponseTrailers,
    /// `Done`: the stream finished (stream-done handler, log).
    Done,
}

/// What a handler gives back after [`HttpContext::send_response`]: the action that stops
/// its phase. `HeaderAction::StopAllIterationAndWatermark` for a header handler (as the SDK
/// answers when a handler fails), `DataAction::StopIterationAndBuffer` for a body handler
/// (wasm-go's `ActionPause`), `()` for a callback or task.
pub trait ReplyAction: sealed::Sealed {
    /// The action.
    fn after_reply() -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for wasmgate_abi::HeaderAction {}
    impl Sealed for wasmgate_abi::DataAction {}
    impl Sealed for () {}
}

impl ReplyAction for HeaderAction {
    fn after_reply() -> Self {
        HeaderAction::StopAllIterationAndWatermark
    }
}

impl ReplyAction for DataAction {
    fn after_reply() -> Self {
        DataAction::StopIterationAndBuffer
    }
}

impl ReplyAction for () {
    fn after_reply() -> Self {}
}

/// A pending route call's callback (see `route_call`).
pub(crate) type RouteCallback = Box<dyn FnOnce(&HttpContext, HttpResponse) -> Result<()>>;

/// What the SDK keeps about one request.
#[derive(Default)]
pub(crate) struct StreamData {
    pub(crate) phase: Phase,
    pub(crate) scheme: String,
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) method: String,
    pub(crate) connection: String,
    pub(crate) upgrade: String,
    pub(crate) request_content_type: String,
    pub(crate) request_content_encoding: String,
    pub(crate) response_content_type: String,
    pub(crate) response_content_encoding: String,
    pub(crate) has_request_body: bool,
    pub(crate) has_response_body: bool,
    pub(crate) dont_read_request_body: bool,
    pub(crate) dont_read_response_body: bool,
    pub(crate) buffer_request_body: bool,
    pub(crate) buffer_response_body: bool,
    pub(crate) need_pause_streaming_response: bool,
    /// No config matched: every later phase passes the request on untouched.
    pub(crate) skipped: bool,
    pub(crate) config: Option<Rc<dyn Any>>,
    /// The per-request store: one value per type.
    store: HashMap<TypeId, Box<dyn Any>>,
    pub(crate) user_attributes: Map<String, Value>,
    /// Callouts and tasks the request waits for.
    pub(crate) pending: u32,
    /// The direction the SDK paused while waiting for `pending` work.
    pub(crate) paused: Option<StreamType>,
    /// The plugin resumed the request itself (`resume`) since the last pause.
    pub(crate) resumed: bool,
    /// A local reply was sent.
    pub(crate) replied: bool,
    /// The request-headers phase returned a stop action (a route call needs it).
    pub(crate) request_headers_stopped: bool,
    /// A route call is pending: the response goes to this callback.
    pub(crate) route_callback: Option<RouteCallback>,
}

struct Inner {
    id: u32,
    data: RefCell<StreamData>,
}

/// One HTTP request/response exchange: headers, bodies, local replies, per-request storage,
/// user attributes. See the [module docs](self).
#[derive(Clone)]
pub struct HttpContext {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for HttpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpContext")
            .field("id", &self.inner.id)
            .finish()
    }
}

thread_local! {
    // A B-tree: a few live ids, no hashing on every callback.
    static LIVE: RefCell<BTreeMap<u32, HttpContext>> = const { RefCell::new(BTreeMap::new()) };
}

/// A live request by context id.
pub(crate) fn live(id: u32) -> Option<HttpContext> {
    LIVE.with(|l| l.borrow().get(&id).cloned())
}

/// The request of the host's current context, if the current context is a request.
pub(crate) fn current() -> Option<HttpContext> {
    live(state::current())
}

/// A request starts: the host created its context.
pub(crate) fn open(id: u32) {
    LIVE.with(|l| l.borrow_mut().insert(id, HttpContext::new(id)));
}

/// A request is over: the host deleted its context. Whether it was live.
pub(crate) fn close(id: u32) -> bool {
    state::set_request_id(id, None);
    // Dropped outside the borrow: values in its store may have destructors.
    let closed = LIVE.with(|l| l.borrow_mut().remove(&id));
    closed.is_some()
}

impl HttpContext {
    pub(crate) fn new(id: u32) -> Self {
        HttpContext {
            inner: Rc::new(Inner {
                id,
                data: RefCell::new(StreamData::default()),
            }),
        }
    }

    pub(crate) fn data(&self) -> std::cell::RefMut<'_, StreamData> {
        self.inner.data.borrow_mut()
    }

    /// The host's id of this request's context.
    pub fn id(&self) -> u32 {
        self.inner.id
    }

    /// Whether the request is still open (its context not yet deleted).
    pub fn is_live(&self) -> bool {
        live(self.inner.id).is_some_and(|s| Rc::ptr_eq(&s.inner, &self.inner))
    }

    /// Makes this request the host's current context.
    pub(crate) fn enter(&self) -> Result<()> {
        state::switch_to(self.inner.id)
    }

    // ----- cached request facts -----

    /// `:scheme` of the request (cached at the request-headers phase; usable in every phase).
    pub fn scheme(&self) -> String {
        self.data().scheme.clone()
    }

    /// `:authority` of the request (cached).
    pub fn host(&self) -> String {
        self.data().host.clone()
    }

    /// `:path` of the request, with its query (cached).
    pub fn path(&self) -> String {
        self.data().path.clone()
    }

    /// `:method` of the request (cached).
    pub fn method(&self) -> String {
        self.data().method.clone()
    }

    /// The request's `x-request-id`, if it had one.
    pub fn request_id(&self) -> Option<String> {
        state::request_id(self.inner.id)
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.data().phase
    }

    /// The config that matched this request, if it is of type `C` (the plugin's config).
    pub fn config<C: 'static>(&self) -> Option<Rc<C>> {
        let any = self.data().config.clone()?;
        any.downcast::<C>().ok()
    }

    // ----- detection (wasm-go rules) -----

    /// Whether the request has a body: `end_of_stream` was false at the header phase.
    pub fn has_request_body(&self) -> bool {
        self.data().has_request_body
    }

    /// Whether the response has a body: `end_of_stream` was false at the header phase.
    pub fn has_response_body(&self) -> bool {
        self.data().has_response_body
    }

    /// A websocket upgrade: `connection: upgrade` and `upgrade: websocket`
    /// (case-insensitive).
    pub fn is_websocket(&self) -> bool {
        let d = self.data();
        d.connection.eq_ignore_ascii_case("upgrade") && d.upgrade.eq_ignore_ascii_case("websocket")
    }

    /// A binary request body by wasm-go's rule: a content type containing `octet-stream` or
    /// `grpc`, or **any** non-empty `content-encoding` (so compressed JSON counts as
    /// binary). The SDK skips the body handlers of binary bodies; call
    /// [`buffer_request_body`](Self::buffer_request_body) in the header handler to read it
    /// anyway.
    pub fn is_binary_request_body(&self) -> bool {
        let d = self.data();
        is_binary(&d.request_content_type, &d.request_content_encoding)
    }

    /// A binary response body by the same rule as [`is_binary_request_body`](Self::is_binary_request_body).
    pub fn is_binary_response_body(&self) -> bool {
        let d = self.data();
        is_binary(&d.response_content_type, &d.response_content_encoding)
    }

    // ----- body switches -----

    /// Skip the request-body handlers for this request.
    pub fn dont_read_request_body(&self) {
        self.data().dont_read_request_body = true;
    }

    /// Skip the response-body handlers for this request.
    pub fn dont_read_response_body(&self) {
        self.data().dont_read_response_body = true;
    }

    /// Use the buffered request-body handler for this request even if a streaming one is
    /// registered (and read the body even if it looks binary).
    pub fn buffer_request_body(&self) {
        let mut d = self.data();
        d.buffer_request_body = true;
        d.dont_read_request_body = false;
    }

    /// Use the buffered response-body handler for this request (and read the body even if
    /// it looks binary).
    pub fn buffer_response_body(&self) {
        let mut d = self.data();
        d.buffer_response_body = true;
        d.dont_read_response_body = false;
    }

    /// Sets the request body buffer limit in bytes (`set_decoder_buffer_limit`).
    pub fn set_request_body_buffer_limit(&self, bytes: u64) -> Result<()> {
        self.set_property(&["set_decoder_buffer_limit"], bytes.to_string().as_bytes())
    }

    /// Sets the response body buffer limit in bytes (`set_encoder_buffer_limit`).
    pub fn set_response_body_buffer_limit(&self, bytes: u64) -> Result<()> {
        self.set_property(&["set_encoder_buffer_limit"], bytes.to_string().as_bytes())
    }

    /// Keeps the route chosen for this request even if the plugin changes headers
    /// (`clear_route_cache` = `off`).
    pub fn disable_reroute(&self) -> Result<()> {
        self.set_property(&["clear_route_cache"], b"off")
    }

    // ----- replies and flow -----

    /// Answers the request locally with a status, headers and a body; the request goes no
    /// further. Gives back the action that stops the handler's phase, so a handler ends
    /// with `return ctx.send_response(403, &[], "denied");` (see [`ReplyAction`]).
    pub fn send_response<A: ReplyAction>(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: impl AsRef<[u8]>,
    ) -> Result<A> {
        self.send_response_with_detail(status, "send_http_response", headers, body)
    }

    /// [`send_response`](Self::send_response) with a response-code detail for the access
    /// log (Higress plugins use `<plugin>.<reason>`, e.g. `request-block.url_blocked.exact`).
    pub fn send_response_with_detail<A: ReplyAction>(
        &self,
        status: u32,
        detail: &str,
        headers: &[(&str, &str)],
        body: impl AsRef<[u8]>,
    ) -> Result<A> {
        self.enter()?;
        raw::send_local_response(status, detail, headers, body.as_ref(), None)?;
        self.data().replied = true;
        Ok(A::after_reply())
    }

    /// Answers locally with a gRPC status: a gRPC client gets a trailers-only answer
    /// (`grpc-status: <grpc_status>`, `grpc-message: <message>`, HTTP 200), as Envoy sends
    /// it; any other client gets `http_status` with `message` as the body.
    pub fn send_grpc_response<A: ReplyAction>(
        &self,
        http_status: u32,
        grpc_status: u32,
        message: &str,
        headers: &[(&str, &str)],
    ) -> Result<A> {
        self.enter()?;
        let grpc_status = i32::try_from(grpc_status).unwrap_or(i32::MAX);
        raw::send_local_response(
            http_status,
            "send_grpc_response",
            headers,
            message.as_bytes(),
            Some(grpc_status),
        )?;
        self.data().replied = true;
        Ok(A::after_reply())
    }

    /// Whether a local reply was sent for this request.
    pub fn replied(&self) -> bool {
        self.data().replied
    }

    /// Resumes a paused request (`proxy_continue_stream(request)`). The SDK resumes on its
    /// own when the callouts and tasks it paused for are finished; call this only when your
    /// handler paused by itself.
    pub fn resume(&self) -> Result<()> {
        self.enter()?;
        raw::continue_stream(StreamType::HttpRequest)?;
        self.data().resumed = true;
        Ok(())
    }

    /// Resumes a paused response.
    pub fn resume_response(&self) -> Result<()> {
        self.enter()?;
        raw::continue_stream(StreamType::HttpResponse)?;
        self.data().resumed = true;
        Ok(())
    }

    /// Resets the stream.
    pub fn close(&self) -> Result<()> {
        self.enter()?;
        raw::close_stream(StreamType::HttpRequest)
    }

    /// Holds the current streaming response chunk instead of sending it on (the phase
    /// returns `StopIterationNoBuffer`); re-emit held data later with
    /// [`inject_encoded_data`](Self::inject_encoded_data).
    pub fn need_pause_streaming_response(&self) {
        self.data().need_pause_streaming_response = true;
    }

    /// Emits data into the response stream (Higress extension).
    pub fn inject_encoded_data(&self, data: &[u8], end_of_stream: bool) -> Result<()> {
        self.enter()?;
        raw::inject_encoded_data(data, end_of_stream)
    }

    // ----- properties -----

    /// A property of this request (`["request", "path"]`, `["route_name"]`, …); `Ok(None)`
    /// when absent.
    pub fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>> {
        self.enter()?;
        raw::get_property(path)
    }

    /// A property as text (lossy); `None` when absent or unreadable.
    pub fn property_string(&self, path: &[&str]) -> Option<String> {
        self.property(path).ok().flatten().map(lossy)
    }

    /// Sets a property of this request.
    pub fn set_property(&self, path: &[&str], value: &[u8]) -> Result<()> {
        self.enter()?;
        raw::set_property(path, value)
    }

    /// Whether the response came from the upstream (`response.code_details` is
    /// `via_upstream`), not from a local reply.
    pub fn is_response_from_upstream(&self) -> bool {
        self.property_string(&["response", "code_details"])
            .as_deref()
            == Some("via_upstream")
    }

    /// Sends this request to one upstream host (`ip:port`), overriding load balancing
    /// (Higress extension).
    pub fn set_upstream_override_host(&self, address: &str) -> Result<()> {
        self.enter()?;
        raw::set_upstream_override_host(address)
    }

    // ----- per-request store -----

    /// Stores a value for this request, one per type: a second value of the same type
    /// replaces the first. Define a type for what you keep (`struct Started(String)`).
    pub fn insert<T: 'static>(&self, value: T) {
        self.data().store.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// A copy of the value stored for type `T`.
    pub fn get<T: Clone + 'static>(&self) -> Option<T> {
        self.data()
            .store
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<T>())
            .cloned()
    }

    /// Runs `f` on the value stored for type `T`. `f` must not use this context's store.
    pub fn with<T: 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut d = self.data();
        d.store
            .get_mut(&TypeId::of::<T>())
            .and_then(|b| b.downcast_mut::<T>())
            .map(f)
    }

    /// Takes the value stored for type `T` out.
    pub fn take<T: 'static>(&self) -> Option<T> {
        let boxed = self.data().store.remove(&TypeId::of::<T>())?;
        boxed.downcast::<T>().ok().map(|b| *b)
    }
}

/// Bytes as text, with invalid UTF-8 replaced by U+FFFD.
pub(crate) fn lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

pub(crate) fn is_binary(content_type: &str, content_encoding: &str) -> bool {
    let has = |needle: &[u8]| {
        content_type
            .as_bytes()
            .windows(needle.len())
            .any(|w| w == needle)
    };
    !content_encoding.is_empty() || has(b"octet-stream") || has(b"grpc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_rule_follows_wasm_go() {
        assert!(is_binary("application/octet-stream", ""));
        assert!(is_binary("application/grpc+proto", ""));
        assert!(is_binary("application/json", "gzip"));
        assert!(!is_binary("application/json", ""));
        assert!(!is_binary("", ""));
    }

    #[test]
    fn the_store_keeps_one_value_per_type() {
        let ctx = HttpContext::new(7);
        ctx.insert(5u32);
        ctx.insert(String::from("s"));
        assert_eq!(ctx.get::<u32>(), Some(5));
        ctx.with(|n: &mut u32| *n += 1);
        assert_eq!(ctx.take::<u32>(), Some(6));
        assert_eq!(ctx.get::<u32>(), None);
        ctx.insert(String::from("t"));
        assert_eq!(ctx.get::<String>().as_deref(), Some("t"));
    }

    #[test]
    fn a_reply_gives_the_stopping_action() {
        assert_eq!(
            HeaderAction::after_reply(),
            HeaderAction::StopAllIterationAndWatermark
        );
        assert_eq!(
            DataAction::after_reply(),
            DataAction::StopIterationAndBuffer
        );
    }
}
