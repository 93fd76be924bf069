//! [`HttpContext`]: one request as a plugin sees it, in every phase and in callbacks.
//!
//! An `HttpContext` is a cheap handle (clone it into callbacks and tasks). Each method that
//! talks to the host first makes this request the host's current context, so a handle used
//! from an HTTP or Redis callback, a tick or an async task acts on the right request. Once
//! the request is over, host calls through the handle fail with an error.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use serde_json::{Map, Value};
use wasmgate_abi::{BufferType, MapType, StreamType};

use crate::error::{Error, Result};
use crate::http::{HttpResponse, Url};
use crate::outcome::IntoOutcome;
use crate::{hostcalls, state};

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
    /// `Done`: the stream finished (stream-done handler, log).
    Done,
}

/// The `custom_log` property: attributes written there appear in the access log.
pub const CUSTOM_LOG_KEY: &str = "custom_log";
/// The `ai_log` property: attributes for AI access-log fields.
pub const AI_LOG_KEY: &str = "ai_log";
/// The prefix of trace span-tag properties.
pub const TRACE_SPAN_TAG_PREFIX: &str = "trace_span_tag.";

/// A pending [`HttpContext::route_call`]'s callback.
pub(crate) type RouteCallback = Box<dyn FnOnce(&mut HttpContext, HttpResponse) -> Result<()>>;

#[derive(Default)]
pub(crate) struct StreamData {
    pub(crate) phase: Phase,
    pub(crate) scheme: String,
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) method: String,
    pub(crate) request_id: Option<String>,
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
    pub(crate) held_chunks: VecDeque<Vec<u8>>,
    /// No config matched: every later phase passes the request on untouched.
    pub(crate) skipped: bool,
    pub(crate) config: Option<Rc<dyn Any>>,
    typed: HashMap<TypeId, Box<dyn Any>>,
    keyed: HashMap<String, Box<dyn Any>>,
    user_attributes: Map<String, Value>,
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

fn lossy(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

macro_rules! header_api {
    ($map:expr, $what:literal,
     $get:ident, $get_bytes:ident, $all:ident, $all_bytes:ident, $set_all:ident,
     $add:ident, $replace:ident, $remove:ident) => {
        #[doc = concat!("One ", $what, " header (values of a repeated header are joined with `,` by the host). Non-UTF-8 bytes are replaced with U+FFFD; `None` when absent or when the host refuses.")]
        pub fn $get(&self, name: &str) -> Option<String> {
            self.$get_bytes(name).map(lossy)
        }

        #[doc = concat!("One ", $what, " header as raw bytes.")]
        pub fn $get_bytes(&self, name: &str) -> Option<Vec<u8>> {
            self.enter().ok()?;
            hostcalls::get_map_value($map, name).ok().flatten()
        }

        #[doc = concat!("Every ", $what, " header in order, as text (lossy for non-UTF-8 values).")]
        pub fn $all(&self) -> Vec<(String, String)> {
            self.$all_bytes()
                .into_iter()
                .map(|(k, v)| (lossy(k), lossy(v)))
                .collect()
        }

        #[doc = concat!("Every ", $what, " header in order, as bytes; empty when the host refuses.")]
        pub fn $all_bytes(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
            if self.enter().is_err() {
                return Vec::new();
            }
            hostcalls::get_map($map).unwrap_or_default()
        }

        #[doc = concat!("Replaces all ", $what, " headers.")]
        pub fn $set_all<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, headers: &[(K, V)]) -> Result<()> {
            self.enter()?;
            hostcalls::set_map($map, headers)
        }

        #[doc = concat!("Adds a ", $what, " header, keeping existing values of the name.")]
        pub fn $add(&self, name: &str, value: impl AsRef<[u8]>) -> Result<()> {
            self.enter()?;
            hostcalls::add_map_value($map, name, value.as_ref())
        }

        #[doc = concat!("Sets a ", $what, " header, replacing every existing value of the name.")]
        pub fn $replace(&self, name: &str, value: impl AsRef<[u8]>) -> Result<()> {
            self.enter()?;
            hostcalls::replace_map_value($map, name, value.as_ref())
        }

        #[doc = concat!("Removes every value of a ", $what, " header.")]
        pub fn $remove(&self, name: &str) -> Result<()> {
            self.enter()?;
            hostcalls::remove_map_value($map, name)
        }
    };
}

macro_rules! body_api {
    ($buffer:expr, $what:literal, $get:ident, $replace:ident, $append:ident, $prepend:ident) => {
        #[doc = concat!("The ", $what, " body the host holds now (the current chunk while streaming, the whole body in a buffered handler).")]
        pub fn $get(&self) -> Result<Vec<u8>> {
            self.enter()?;
            Ok(hostcalls::get_buffer($buffer, 0, u32::MAX as usize)?.unwrap_or_default())
        }

        #[doc = concat!("Replaces the ", $what, " body the host holds.")]
        pub fn $replace(&self, body: impl AsRef<[u8]>) -> Result<()> {
            self.enter()?;
            hostcalls::set_buffer($buffer, 0, u32::MAX as usize, body.as_ref())
        }

        #[doc = concat!("Appends to the ", $what, " body.")]
        pub fn $append(&self, data: impl AsRef<[u8]>) -> Result<()> {
            self.enter()?;
            hostcalls::set_buffer($buffer, u32::MAX as usize, 0, data.as_ref())
        }

        #[doc = concat!("Prepends to the ", $what, " body.")]
        pub fn $prepend(&self, data: impl AsRef<[u8]>) -> Result<()> {
            self.enter()?;
            hostcalls::set_buffer($buffer, 0, 0, data.as_ref())
        }
    };
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
        state::stream(self.inner.id).is_some_and(|s| Rc::ptr_eq(&s.inner, &self.inner))
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
        self.data().request_id.clone()
    }

    pub(crate) fn try_request_id(&self) -> Option<String> {
        self.inner.data.try_borrow().ok()?.request_id.clone()
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

    // ----- headers -----

    header_api!(
        MapType::HttpRequestHeaders,
        "request",
        request_header,
        request_header_bytes,
        request_headers,
        request_headers_bytes,
        set_request_headers,
        add_request_header,
        replace_request_header,
        remove_request_header
    );

    header_api!(
        MapType::HttpResponseHeaders,
        "response",
        response_header,
        response_header_bytes,
        response_headers,
        response_headers_bytes,
        set_response_headers,
        add_response_header,
        replace_response_header,
        remove_response_header
    );

    header_api!(
        MapType::HttpRequestTrailers,
        "request trailer",
        request_trailer,
        request_trailer_bytes,
        request_trailers,
        request_trailers_bytes,
        set_request_trailers,
        add_request_trailer,
        replace_request_trailer,
        remove_request_trailer
    );

    header_api!(
        MapType::HttpResponseTrailers,
        "response trailer",
        response_trailer,
        response_trailer_bytes,
        response_trailers,
        response_trailers_bytes,
        set_response_trailers,
        add_response_trailer,
        replace_response_trailer,
        remove_response_trailer
    );

    // ----- bodies -----

    body_api!(
        BufferType::HttpRequestBody,
        "request",
        request_body,
        replace_request_body,
        append_request_body,
        prepend_request_body
    );

    body_api!(
        BufferType::HttpResponseBody,
        "response",
        response_body,
        replace_response_body,
        append_response_body,
        prepend_response_body
    );

    // ----- replies and flow -----

    /// Answers the request locally with a status, headers and a body. The request goes no
    /// further; whatever the handler returns, the phase stops.
    pub fn send_response(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: impl AsRef<[u8]>,
    ) -> Result<()> {
        self.send_response_with_detail(status, "send_http_response", headers, body)
    }

    /// [`send_response`](Self::send_response) with a response-code detail for the access
    /// log (Higress plugins use `<plugin>.<reason>`, e.g. `request-block.url_blocked.exact`).
    pub fn send_response_with_detail(
        &self,
        status: u32,
        detail: &str,
        headers: &[(&str, &str)],
        body: impl AsRef<[u8]>,
    ) -> Result<()> {
        self.enter()?;
        hostcalls::send_local_response(status, detail, headers, body.as_ref(), None)?;
        self.data().replied = true;
        Ok(())
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
        hostcalls::continue_stream(StreamType::HttpRequest)?;
        self.data().resumed = true;
        Ok(())
    }

    /// Resumes a paused response.
    pub fn resume_response(&self) -> Result<()> {
        self.enter()?;
        hostcalls::continue_stream(StreamType::HttpResponse)?;
        self.data().resumed = true;
        Ok(())
    }

    /// Resets the stream.
    pub fn close(&self) -> Result<()> {
        self.enter()?;
        hostcalls::close_stream(StreamType::HttpRequest)
    }

    /// Sends this request to the route's upstream rewritten as another request, and hands
    /// the upstream's answer to `callback` instead of the client (wasm-go's `RouteCall`;
    /// Higress's AI plugins use it to retry or re-target a request).
    ///
    /// Allowed only in the request-body phase, and only when the request-headers phase
    /// stopped (returned a stop action, e.g. `HeaderAction::StopIteration`, or paused for a
    /// callout); otherwise it fails without changing anything. It removes
    /// `accept-encoding` and `content-length`; saves `:method`, `:path` and `:authority`
    /// in `x-envoy-original-method`, `x-envoy-original-path` and `x-envoy-original-host`;
    /// sets `:method`, `:path` (the URL's escaped path and query; unlike wasm-go, no
    /// fragment) and `:authority` (when the URL has a host); replaces each of `headers`;
    /// and replaces the request body with `body`.
    ///
    /// The response is intercepted: response headers with end of stream → `callback` with
    /// an empty body, and the phase returns `StopAllIterationAndWatermark` (the callback
    /// should answer with [`send_response`](Self::send_response)); otherwise the headers
    /// are held (`StopIteration`), the whole body is buffered, `content-length` is removed
    /// and `callback` gets status, headers and body, after which the response continues
    /// (the callback may rewrite it with [`replace_response_body`](Self::replace_response_body)
    /// and the response-header methods). The plugin's own response handlers do not run for
    /// this request. An `Err` from the callback fails the request with a 500.
    pub fn route_call<R: IntoOutcome<()>>(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: impl AsRef<[u8]>,
        callback: impl FnOnce(&mut HttpContext, HttpResponse) -> R + 'static,
    ) -> Result<()> {
        {
            let d = self.data();
            if d.phase != Phase::RequestBody {
                return Err(Error::msg(format!(
                    "route_call is only allowed in the request body phase (now {:?})",
                    d.phase
                )));
            }
            if !d.request_headers_stopped {
                return Err(Error::msg(
                    "route_call needs the request headers phase to have stopped (return a stop action from the request headers handler)",
                ));
            }
        }
        self.enter()?;
        let map = MapType::HttpRequestHeaders;
        hostcalls::remove_map_value(map, "accept-encoding")?;
        hostcalls::remove_map_value(map, "content-length")?;
        for (original, saved) in [
            (":method", "x-envoy-original-method"),
            (":path", "x-envoy-original-path"),
            (":authority", "x-envoy-original-host"),
        ] {
            let value = hostcalls::get_map_value(map, original)?.unwrap_or_default();
            hostcalls::replace_map_value(map, saved, &value)?;
        }
        hostcalls::replace_map_value(map, ":method", method.as_bytes())?;
        let parsed = Url::parse(url);
        hostcalls::replace_map_value(map, ":path", parsed.path_and_query().as_bytes())?;
        if let Some(host) = parsed.host.filter(|h| !h.is_empty()) {
            hostcalls::replace_map_value(map, ":authority", host.as_bytes())?;
        }
        for (k, v) in headers {
            hostcalls::replace_map_value(map, k, v.as_bytes())?;
        }
        hostcalls::set_buffer(
            BufferType::HttpRequestBody,
            0,
            u32::MAX as usize,
            body.as_ref(),
        )?;
        self.data().route_callback = Some(Box::new(move |ctx, response| {
            callback(ctx, response).into_outcome()
        }));
        crate::debug!("route call: {method} {url}");
        Ok(())
    }

    /// Whether a [`route_call`](Self::route_call) is waiting for its response.
    pub fn route_call_pending(&self) -> bool {
        self.data().route_callback.is_some()
    }

    // ----- properties -----

    /// A property of this request (`["request", "path"]`, `["route_name"]`, …); `Ok(None)`
    /// when absent.
    pub fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>> {
        self.enter()?;
        hostcalls::get_property(path)
    }

    /// A property as text (lossy); `None` when absent or unreadable.
    pub fn property_string(&self, path: &[&str]) -> Option<String> {
        self.property(path).ok().flatten().map(lossy)
    }

    /// Sets a property of this request.
    pub fn set_property(&self, path: &[&str], value: &[u8]) -> Result<()> {
        self.enter()?;
        hostcalls::set_property(path, value)
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
        hostcalls::set_upstream_override_host(address)
    }

    // ----- per-request storage -----

    /// Stores a value by its type (one value per type per request).
    pub fn insert<T: 'static>(&self, value: T) {
        self.data().typed.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// A copy of the value stored for type `T`.
    pub fn get<T: Clone + 'static>(&self) -> Option<T> {
        self.data()
            .typed
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<T>())
            .cloned()
    }

    /// Runs `f` on the value stored for type `T`. `f` must not use this context's storage.
    pub fn with<T: 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut d = self.data();
        d.typed
            .get_mut(&TypeId::of::<T>())
            .and_then(|b| b.downcast_mut::<T>())
            .map(f)
    }

    /// Takes the value stored for type `T` out.
    pub fn take<T: 'static>(&self) -> Option<T> {
        let boxed = self.data().typed.remove(&TypeId::of::<T>())?;
        boxed.downcast::<T>().ok().map(|b| *b)
    }

    /// Stores a value under a key (wasm-go's `SetContext`).
    pub fn set_context<T: 'static>(&self, key: &str, value: T) {
        self.data().keyed.insert(key.to_string(), Box::new(value));
    }

    /// A copy of the value under a key, if it has type `T` (wasm-go's `GetContext`).
    pub fn get_context<T: Clone + 'static>(&self, key: &str) -> Option<T> {
        self.data()
            .keyed
            .get(key)
            .and_then(|b| b.downcast_ref::<T>())
            .cloned()
    }

    /// A `bool` under a key, or `default`.
    pub fn get_bool_context(&self, key: &str, default: bool) -> bool {
        self.get_context(key).unwrap_or(default)
    }

    /// A `String` under a key, or `default`.
    pub fn get_string_context(&self, key: &str, default: &str) -> String {
        self.get_context::<String>(key)
            .unwrap_or_else(|| default.to_string())
    }

    // ----- user attributes -----

    /// Sets a user attribute (written to the access log or trace on request).
    pub fn set_user_attribute(&self, key: &str, value: impl Into<Value>) {
        self.data()
            .user_attributes
            .insert(key.to_string(), value.into());
    }

    /// A user attribute.
    pub fn user_attribute(&self, key: &str) -> Option<Value> {
        self.data().user_attributes.get(key).cloned()
    }

    /// All user attributes.
    pub fn user_attributes(&self) -> Map<String, Value> {
        self.data().user_attributes.clone()
    }

    /// Replaces all user attributes.
    pub fn set_user_attributes(&self, attributes: Map<String, Value>) {
        self.data().user_attributes = attributes;
    }

    /// Merges the user attributes into the `custom_log` property (read by the access log).
    pub fn write_user_attributes_to_log(&self) -> Result<()> {
        self.write_user_attributes_to_log_with_key(CUSTOM_LOG_KEY)
    }

    /// Merges the user attributes into a log property (`custom_log` or `ai_log`): the
    /// property's JSON object is read, the attributes are merged in and it is written back.
    /// As in wasm-go, the property holds the JSON text escaped as a JSON string body
    /// (`{\"a\":1}`, no outer quotes), ready to paste into a JSON access-log line.
    pub fn write_user_attributes_to_log_with_key(&self, key: &str) -> Result<()> {
        let existing = self.property(&[key])?;
        let mut merged: Map<String, Value> = match existing {
            Some(bytes) if !bytes.is_empty() => parse_log_property(&bytes)
                .ok_or_else(|| Error::Decode(format!("property {key} is not a JSON object")))?,
            _ => Map::new(),
        };
        for (k, v) in self.user_attributes() {
            merged.insert(k, v);
        }
        self.set_property(&[key], escape_log_json(&Value::Object(merged)).as_bytes())
    }

    /// Merges the user attributes into the `ai_log` property (Higress's AI access-log
    /// fields, `%FILTER_STATE(wasm.ai_log:PLAIN)%`).
    pub fn write_user_attributes_to_ai_log(&self) -> Result<()> {
        self.write_user_attributes_to_log_with_key(AI_LOG_KEY)
    }

    /// Writes each user attribute as a trace span tag (`trace_span_tag.<key>`).
    pub fn write_user_attributes_to_trace(&self) -> Result<()> {
        for (k, v) in self.user_attributes() {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let key = format!("{TRACE_SPAN_TAG_PREFIX}{k}");
            self.set_property(&[key.as_str()], text.as_bytes())?;
        }
        Ok(())
    }

    // ----- streaming response hold -----

    /// Holds the current streaming response chunk instead of sending it on (the phase
    /// returns `StopIterationNoBuffer`); re-emit held data later with
    /// [`inject_encoded_data`](Self::inject_encoded_data).
    pub fn need_pause_streaming_response(&self) {
        self.data().need_pause_streaming_response = true;
    }

    /// Queues a chunk for later.
    pub fn push_buffer(&self, chunk: Vec<u8>) {
        self.data().held_chunks.push_back(chunk);
    }

    /// Takes the oldest queued chunk.
    pub fn pop_buffer(&self) -> Option<Vec<u8>> {
        self.data().held_chunks.pop_front()
    }

    /// How many chunks are queued.
    pub fn buffer_queue_size(&self) -> usize {
        self.data().held_chunks.len()
    }

    /// Emits data into the response stream (Higress extension).
    pub fn inject_encoded_data(&self, data: &[u8], end_of_stream: bool) -> Result<()> {
        self.enter()?;
        hostcalls::inject_encoded_data(data, end_of_stream)
    }
}

/// Reads `custom_log`/`ai_log`: wasm-go's escaped form (`{\"a\":1}`), or a plain JSON
/// object.
fn parse_log_property(bytes: &[u8]) -> Option<Map<String, Value>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let unescaped = serde_json::from_str::<String>(&format!("\"{text}\""));
    let json = match &unescaped {
        Ok(inner) => inner.as_str(),
        Err(_) => text,
    };
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Some(map),
        _ => match serde_json::from_str::<Value>(text).ok()? {
            Value::Object(map) => Some(map),
            _ => None,
        },
    }
}

/// wasm-go's `MarshalStr`: the JSON text escaped as the body of a JSON string.
pub(crate) fn escape_log_json(value: &Value) -> String {
    let quoted = Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
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
    fn storage_is_typed_and_keyed() {
        let ctx = HttpContext::new(7);
        ctx.insert(5u32);
        ctx.insert(String::from("s"));
        assert_eq!(ctx.get::<u32>(), Some(5));
        ctx.with(|n: &mut u32| *n += 1);
        assert_eq!(ctx.take::<u32>(), Some(6));
        assert_eq!(ctx.get::<u32>(), None);
        ctx.set_context("flag", true);
        assert!(ctx.get_bool_context("flag", false));
        assert_eq!(ctx.get_string_context("missing", "d"), "d");
        assert_eq!(ctx.get_context::<u8>("flag"), None);
    }

    #[test]
    fn log_property_round_trips_the_escaped_form() {
        let map = parse_log_property(br#"{\"a\":1,\"b\":\"x y\"}"#).unwrap();
        assert_eq!(map["a"], 1);
        let escaped = escape_log_json(&Value::Object(map));
        assert_eq!(escaped, r#"{\"a\":1,\"b\":\"x y\"}"#);
        assert!(parse_log_property(br#"{"a":1}"#).is_some());
        assert!(parse_log_property(b"[1]").is_none());
    }
}
