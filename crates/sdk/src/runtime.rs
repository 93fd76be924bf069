//! The runtime of a plugin: what the SDK does in each phase of a request, around the
//! plugin's handlers (the start sequence is in [`start`]).
//!
//! **Request headers:** the pseudo-headers, `connection`, `upgrade`, `content-type`,
//! `content-encoding` and `x-request-id` are cached (the last is copied to the property
//! `x_request_id`); the rebuild checks run; the config is matched. **No match and no global
//! config → the plugin is skipped for the whole request.** A binary request body is not
//! read; a websocket's bodies are not read. Then the handler runs.
//!
//! **Bodies:** a streaming handler gets each chunk and its result replaces the chunk; a
//! buffered handler gets the whole body at the end of the stream (earlier chunks are held
//! with `StopIterationAndBuffer`). **Done:** the stream-done handler runs in `on_log`.
//!
//! **Route calls:** while an [`HttpContext::route_call`] is pending, the response goes to
//! its callback instead of the response handlers.
//!
//! **Phases without a handler:** once configured, the SDK tells the host which per-request
//! callbacks the plugin does without (`Definition::unused_callbacks`, through the foreign
//! function `wasmgate_unused_callbacks`); wasmgate then does not call them, other hosts
//! (Envoy) answer NotFound and call every phase as before.
//!
//! **Errors:** a handler that returns `Err` is logged and fails the request with a 500.
//! **Waiting:** a handler that leaves callouts or tasks pending stops its phase until they
//! finish (see [`task`]).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasmgate_abi::{pairs, BufferType, DataAction, HeaderAction, MapType};

use crate::context::{HttpContext, Phase};
use crate::definition::{Definition, UNUSED_CALLBACKS};
use crate::dispatch::{self, data_raw, header_raw, Dispatch};
use crate::error::Result;
use crate::response::HttpResponse;
use crate::rules::{RequestKey, RuleSet};
use crate::{raw, start, state, task, tick};

/// Makes `definition` the VM's plugin.
pub(crate) fn register<C: 'static>(definition: Definition<C>) {
    let name = definition.name.clone();
    let runtime: Rc<dyn Dispatch> = Rc::new(Runtime {
        definition,
        rules: RefCell::new(None),
        requests: Cell::new(0),
        rebuild_requested: Cell::new(false),
    });
    dispatch::register(&name, runtime);
}

struct Runtime<C> {
    definition: Definition<C>,
    rules: RefCell<Option<Rc<RuleSet<C>>>>,
    requests: Cell<u64>,
    rebuild_requested: Cell<bool>,
}

impl<C: 'static> Runtime<C> {
    fn rebuild_checks(&self) {
        if self.rebuild_requested.get() {
            return;
        }
        let n = self.requests.get() + 1;
        self.requests.set(n);
        let mut reason = None;
        if self.definition.rebuild_after_requests > 0 && n >= self.definition.rebuild_after_requests
        {
            reason = Some(format!("{n} requests"));
        }
        if reason.is_none() && self.definition.rebuild_max_memory_bytes > 0 {
            if let Ok(Some(bytes)) = raw::get_property(&["plugin_vm_memory"]) {
                if bytes.len() >= 8 {
                    let mut le = [0u8; 8];
                    le.copy_from_slice(&bytes[..8]);
                    let memory = u64::from_le_bytes(le);
                    if memory >= self.definition.rebuild_max_memory_bytes {
                        reason = Some(format!("{memory} bytes of memory"));
                    }
                }
            }
        }
        if let Some(reason) = reason {
            match raw::set_property(&["wasm_need_rebuild"], b"true") {
                Ok(()) => {
                    crate::info!("asking for a VM rebuild after {reason}");
                    self.rebuild_requested.set(true);
                }
                Err(e) => crate::warn!("cannot ask for a VM rebuild: {e}"),
            }
        }
    }

    fn config_of(&self, ctx: &HttpContext) -> Option<Rc<C>> {
        if ctx.data().skipped {
            return None;
        }
        ctx.config::<C>()
    }

    /// Applies a header handler's outcome: errors fail the request; pending callouts or
    /// tasks stop the phase until they finish.
    fn finish_headers(
        &self,
        ctx: &HttpContext,
        what: &str,
        outcome: Result<HeaderAction>,
        request: bool,
    ) -> u32 {
        let action = match outcome {
            Ok(action) => action,
            Err(e) => {
                task::fail(ctx, what, &e);
                return header_raw(if ctx.replied() {
                    HeaderAction::StopAllIterationAndWatermark
                } else {
                    HeaderAction::Continue
                });
            }
        };
        let mut d = ctx.data();
        if d.pending > 0 && !d.replied {
            d.paused = Some(task::direction(request));
            d.resumed = false;
            if !action.is_stop() {
                return header_raw(HeaderAction::StopAllIterationAndWatermark);
            }
        }
        header_raw(action)
    }

    fn finish_data(
        &self,
        ctx: &HttpContext,
        what: &str,
        outcome: Result<DataAction>,
        request: bool,
    ) -> u32 {
        let action = match outcome {
            Ok(action) => action,
            Err(e) => {
                task::fail(ctx, what, &e);
                return data_raw(if ctx.replied() {
                    DataAction::StopIterationNoBuffer
                } else {
                    DataAction::Continue
                });
            }
        };
        let mut d = ctx.data();
        if d.pending > 0 && !d.replied {
            d.paused = Some(task::direction(request));
            d.resumed = false;
            if !action.is_stop() {
                return data_raw(DataAction::StopIterationAndBuffer);
            }
        }
        data_raw(action)
    }

    /// Hands a route call's response to its callback: from the response headers with end
    /// of stream (`headers_phase`, no body), or from the end of the buffered response body.
    fn finish_route_call(&self, ctx: &HttpContext, body: Vec<u8>, headers_phase: bool) -> u32 {
        let Some(callback) = ctx.data().route_callback.take() else {
            return header_raw(HeaderAction::Continue);
        };
        if !headers_phase {
            if let Err(e) = raw::remove_map_value(MapType::HttpResponseHeaders, "content-length") {
                crate::warn!("route call: cannot remove content-length: {e}");
            }
        }
        let headers = ctx.response_headers();
        let status = headers
            .iter()
            .find(|(k, _)| k == ":status")
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(500);
        crate::debug!("route call answered {status} ({} body bytes)", body.len());
        let response = HttpResponse {
            status,
            headers,
            body,
        };
        let outcome = callback(ctx, response);
        if headers_phase {
            let action = outcome.map(|()| HeaderAction::StopAllIterationAndWatermark);
            self.finish_headers(ctx, "route call callback", action, false)
        } else {
            let action = outcome.map(|()| DataAction::Continue);
            self.finish_data(ctx, "route call callback", action, false)
        }
    }

    /// The trailers phase: a whole-body handler still waiting for the end runs first on
    /// what was held (the trailers end the message), then the trailers handler. Answers the
    /// trailers status: 0 continue, 1 stop.
    fn trailers(&self, ctx: &HttpContext, request: bool) -> u32 {
        const CONTINUE: u32 = 0;
        const STOP: u32 = 1;
        let Some(config) = self.config_of(ctx) else {
            return CONTINUE;
        };
        let held = if request {
            BufferType::HttpRequestBody
        } else {
            BufferType::HttpResponseBody
        };
        let held_body = raw::get_buffer(held, 0, u32::MAX as usize)
            .ok()
            .flatten()
            .unwrap_or_default();
        let route_call = !request && ctx.route_call_pending();
        let ended = if route_call {
            self.finish_route_call(ctx, held_body, false)
        } else if !held_body.is_empty() {
            self.body(ctx, held_body.len(), true, request)
        } else {
            data_raw(DataAction::Continue)
        };
        if ended != data_raw(DataAction::Continue) {
            return STOP;
        }
        if ctx.replied() {
            return STOP;
        }
        let (handler, what) = if request {
            (
                &self.definition.request_trailers,
                "request trailers handler",
            )
        } else {
            (
                &self.definition.response_trailers,
                "response trailers handler",
            )
        };
        let Some(f) = handler else {
            return CONTINUE;
        };
        let outcome = f(ctx, &config);
        if self.finish_headers(ctx, what, outcome, request) == header_raw(HeaderAction::Continue) {
            CONTINUE
        } else {
            STOP
        }
    }

    fn body(&self, ctx: &HttpContext, size: usize, end_of_stream: bool, request: bool) -> u32 {
        let continue_raw = data_raw(DataAction::Continue);
        let Some(config) = self.config_of(ctx) else {
            return continue_raw;
        };
        let (dont_read, buffer_switch) = {
            let d = ctx.data();
            if request {
                (d.dont_read_request_body, d.buffer_request_body)
            } else {
                (d.dont_read_response_body, d.buffer_response_body)
            }
        };
        if dont_read {
            return continue_raw;
        }
        let (streaming, buffered, buffer, what) = if request {
            (
                &self.definition.streaming_request_body,
                &self.definition.request_body,
                BufferType::HttpRequestBody,
                "request body handler",
            )
        } else {
            (
                &self.definition.streaming_response_body,
                &self.definition.response_body,
                BufferType::HttpResponseBody,
                "response body handler",
            )
        };
        let read = || raw::get_buffer(buffer, 0, size).map(Option::unwrap_or_default);
        if let (Some(f), false) = (streaming, buffer_switch) {
            let outcome = read().and_then(|chunk| {
                let out = f(ctx, &config, &chunk, end_of_stream)?;
                if out != chunk {
                    ctx.enter()?;
                    raw::set_buffer(buffer, 0, u32::MAX as usize, &out)?;
                }
                Ok(())
            });
            let hold = !request && std::mem::take(&mut ctx.data().need_pause_streaming_response);
            let action = outcome.map(|()| {
                if hold {
                    DataAction::StopIterationNoBuffer
                } else {
                    DataAction::Continue
                }
            });
            return self.finish_data(ctx, what, action, request);
        }
        let Some(f) = buffered else {
            return continue_raw;
        };
        if !end_of_stream {
            return data_raw(DataAction::StopIterationAndBuffer);
        }
        let outcome = read().and_then(|body| f(ctx, &config, &body));
        self.finish_data(ctx, what, outcome, request)
    }
}

/// The request headers the SDK keeps, each the first value of its name, as text (invalid
/// UTF-8 replaced).
#[derive(Default)]
struct RequestHead {
    scheme: Option<String>,
    authority: Option<String>,
    path: Option<String>,
    method: Option<String>,
    connection: Option<String>,
    upgrade: Option<String>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    request_id: Option<String>,
}

impl RequestHead {
    /// One pass over the pairs. Hosts hand names lower-cased; others are lowered first.
    fn read(pairs: &[(&[u8], &[u8])]) -> Self {
        let mut head = RequestHead::default();
        for (name, value) in pairs {
            let lowered;
            let name: &[u8] = if name.iter().any(u8::is_ascii_uppercase) {
                lowered = name.to_ascii_lowercase();
                &lowered
            } else {
                name
            };
            let slot = match name {
                b":scheme" => &mut head.scheme,
                b":authority" => &mut head.authority,
                b":path" => &mut head.path,
                b":method" => &mut head.method,
                b"connection" => &mut head.connection,
                b"upgrade" => &mut head.upgrade,
                b"content-type" => &mut head.content_type,
                b"content-encoding" => &mut head.content_encoding,
                b"x-request-id" => &mut head.request_id,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(String::from_utf8_lossy(value).into_owned());
            }
        }
        head
    }
}

fn property_text(path: &str) -> Option<String> {
    raw::get_property(&[path])
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

impl<C: 'static> Dispatch for Runtime<C> {
    fn configure(&self, size: usize) -> bool {
        tick::before_configure();
        match start::start(&self.definition, size) {
            Ok(rules) => {
                *self.rules.borrow_mut() = Some(Rc::new(rules));
                // Hosts without this function (Envoy) answer NotFound and call every phase.
                let unused = self.definition.unused_callbacks().join(",");
                let _ = raw::call_foreign_function(UNUSED_CALLBACKS, unused.as_bytes());
                true
            }
            Err(e) => {
                crate::error!("failed to start: {e}");
                false
            }
        }
    }

    fn request_headers(&self, ctx: &HttpContext, end_of_stream: bool) -> u32 {
        // Decoded in place: the SDK keeps only the few headers below.
        let raw = raw::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default();
        let head = RequestHead::read(&pairs::decode_borrowed(&raw).unwrap_or_default());
        let request_id = head.request_id.clone();
        let host = head.authority.clone();
        {
            let mut d = ctx.data();
            d.phase = Phase::RequestHeaders;
            d.has_request_body = !end_of_stream;
            d.scheme = head.scheme.unwrap_or_default();
            d.host = head.authority.unwrap_or_default();
            d.path = head.path.unwrap_or_default();
            d.method = head.method.unwrap_or_default();
            d.connection = head.connection.unwrap_or_default();
            d.upgrade = head.upgrade.unwrap_or_default();
            d.request_content_type = head.content_type.unwrap_or_default();
            d.request_content_encoding = head.content_encoding.unwrap_or_default();
        }
        state::set_request_id(ctx.id(), head.request_id);
        if let Some(id) = &request_id {
            let _ = raw::set_property(&["x_request_id"], id.as_bytes());
        }
        self.rebuild_checks();
        let continue_raw = header_raw(HeaderAction::Continue);
        let rules = self.rules.borrow().clone();
        let Some(rules) = rules else {
            ctx.data().skipped = true;
            return continue_raw;
        };
        let Some(host) = host else {
            crate::error!("get match config failed: the request has no :authority");
            ctx.data().skipped = true;
            return continue_raw;
        };
        // Only route and service rules look at these: a global-only config skips the reads.
        let (route, cluster) = if rules.rules.is_empty() {
            (String::new(), String::new())
        } else {
            (
                property_text("route_name").unwrap_or_default(),
                property_text("cluster_name").unwrap_or_default(),
            )
        };
        let key = RequestKey {
            route: &route,
            host: &host,
            cluster: &cluster,
        };
        let Some(config) = rules.select(&key).cloned() else {
            ctx.data().skipped = true;
            return continue_raw;
        };
        ctx.data().config = Some(config.clone() as Rc<dyn Any>);
        if ctx.is_websocket() {
            ctx.dont_read_request_body();
            ctx.dont_read_response_body();
        } else if ctx.is_binary_request_body() {
            ctx.dont_read_request_body();
        }
        let Some(f) = &self.definition.request_headers else {
            return continue_raw;
        };
        let outcome = f(ctx, &config);
        let raw = self.finish_headers(ctx, "request headers handler", outcome, true);
        ctx.data().request_headers_stopped = raw != continue_raw;
        raw
    }

    fn request_body(&self, ctx: &HttpContext, size: usize, end_of_stream: bool) -> u32 {
        ctx.data().phase = Phase::RequestBody;
        self.body(ctx, size, end_of_stream, true)
    }

    fn response_headers(&self, ctx: &HttpContext, end_of_stream: bool) -> u32 {
        ctx.data().phase = Phase::ResponseHeaders;
        let continue_raw = header_raw(HeaderAction::Continue);
        let Some(config) = self.config_of(ctx) else {
            return continue_raw;
        };
        {
            let text = |name| {
                raw::get_map_value(MapType::HttpResponseHeaders, name)
                    .ok()
                    .flatten()
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_default()
            };
            let (content_type, content_encoding) = (text("content-type"), text("content-encoding"));
            let mut d = ctx.data();
            d.has_response_body = !end_of_stream;
            d.response_content_type = content_type;
            d.response_content_encoding = content_encoding;
        }
        if ctx.is_binary_response_body() {
            ctx.dont_read_response_body();
        }
        if ctx.route_call_pending() {
            if end_of_stream {
                return self.finish_route_call(ctx, Vec::new(), true);
            }
            ctx.data().dont_read_response_body = false;
            return header_raw(HeaderAction::StopIteration);
        }
        let Some(f) = &self.definition.response_headers else {
            return continue_raw;
        };
        let outcome = f(ctx, &config);
        self.finish_headers(ctx, "response headers handler", outcome, false)
    }

    fn response_body(&self, ctx: &HttpContext, size: usize, end_of_stream: bool) -> u32 {
        ctx.data().phase = Phase::ResponseBody;
        if self.config_of(ctx).is_some() && ctx.route_call_pending() {
            if !end_of_stream {
                return data_raw(DataAction::StopIterationAndBuffer);
            }
            let body = raw::get_buffer(BufferType::HttpResponseBody, 0, size)
                .ok()
                .flatten()
                .unwrap_or_default();
            return self.finish_route_call(ctx, body, false);
        }
        self.body(ctx, size, end_of_stream, false)
    }

    fn request_trailers(&self, ctx: &HttpContext) -> u32 {
        ctx.data().phase = Phase::RequestTrailers;
        self.trailers(ctx, true)
    }

    fn response_trailers(&self, ctx: &HttpContext) -> u32 {
        ctx.data().phase = Phase::ResponseTrailers;
        self.trailers(ctx, false)
    }

    fn stream_done(&self, ctx: &HttpContext) {
        ctx.data().phase = Phase::Done;
        let Some(config) = self.config_of(ctx) else {
            return;
        };
        if let Some(f) = &self.definition.stream_done {
            f(ctx, &config);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_keeps_the_first_value_of_each_name_in_any_case() {
        let pairs: Vec<(&[u8], &[u8])> = vec![
            (b":authority", b"example.com"),
            (b":path", b"/a?b=1"),
            (b"Content-Type", b"application/json"),
            (b"x-request-id", b"first"),
            (b"X-Request-Id", b"second"),
            (b"upgrade", &[0xff, b'w']),
            (b"x-other", b"ignored"),
        ];
        let head = RequestHead::read(&pairs);
        assert_eq!(head.authority.as_deref(), Some("example.com"));
        assert_eq!(head.path.as_deref(), Some("/a?b=1"));
        assert_eq!(head.content_type.as_deref(), Some("application/json"));
        assert_eq!(head.request_id.as_deref(), Some("first"));
        assert_eq!(head.upgrade.as_deref(), Some("\u{fffd}w"));
        assert_eq!(head.method, None);
        assert_eq!(head.scheme, None);
    }
}
