//! [`Plugin`]: a plugin's name, configuration type, parsers and handlers, and the runtime
//! that drives them from the host's callbacks.
//!
//! Most plugins use the [`plugin!`](macro@crate::plugin) macro, which builds a `Plugin` and
//! registers it when the VM starts. The builder can also be used directly from
//! [`entry!`](crate::entry).
//!
//! **Start** (`proxy_on_configure`): the start hook runs; the configuration is read (an empty
//! one is taken as `{}` with a warning; anything but a JSON object fails the start);
//! `_plugin_id_` is removed and used in log lines; the global config and each `_rules_`
//! entry are parsed (see [`rules`](crate::rules)); any error fails the start with one log
//! line that says what is wrong.
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
//! **Errors:** a handler that returns `Err` is logged and fails the request with a 500.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wasmgate_abi::{pairs, BufferType, DataAction, HeaderAction, MapType};

use crate::context::{HttpContext, Phase};
use crate::error::Result;
use crate::outcome::IntoOutcome;
use crate::rules::{RequestKey, RuleSet, PLUGIN_ID_KEY};
use crate::{hostcalls, state, task};

type ParseFn<C> = Box<dyn Fn(&Map<String, Value>) -> Result<C, String>>;
type RuleFn<C> =
    Box<dyn Fn(&Map<String, Value>, &Map<String, Value>, Option<&C>) -> Result<C, String>>;
type HeadersFn<C> = Box<dyn Fn(&mut HttpContext, &C) -> Result<HeaderAction>>;
type BodyFn<C> = Box<dyn Fn(&mut HttpContext, &C, &[u8]) -> Result<DataAction>>;
type ChunkFn<C> = Box<dyn Fn(&mut HttpContext, &C, &[u8], bool) -> Result<Vec<u8>>>;
type DoneFn<C> = Box<dyn Fn(&mut HttpContext, &C)>;
type StartFn = Box<dyn Fn(&mut PluginContext) -> Result<()>>;
type ValidateFn<C> = Box<dyn Fn(&C) -> Result<(), String>>;

/// A configuration type for plugins that take none: it accepts any JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoConfig;

impl<'de> serde::Deserialize<'de> for NoConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(NoConfig)
    }
}

/// A plugin definition: name, config type `C`, how to parse it, and the handlers.
pub struct Plugin<C> {
    name: String,
    parse: Option<ParseFn<C>>,
    parse_rule: Option<RuleFn<C>>,
    merge: bool,
    validate: Option<ValidateFn<C>>,
    on_plugin_start: Option<StartFn>,
    request_headers: Option<HeadersFn<C>>,
    request_body: Option<BodyFn<C>>,
    streaming_request_body: Option<ChunkFn<C>>,
    response_headers: Option<HeadersFn<C>>,
    response_body: Option<BodyFn<C>>,
    streaming_response_body: Option<ChunkFn<C>>,
    stream_done: Option<DoneFn<C>>,
    rebuild_after_requests: u64,
    rebuild_max_memory_bytes: u64,
    max_requests_per_io_cycle: u64,
}

fn serde_parser<C: DeserializeOwned>() -> ParseFn<C> {
    Box::new(|json| serde_json::from_value(Value::Object(json.clone())).map_err(|e| e.to_string()))
}

impl<C: DeserializeOwned + 'static> Plugin<C> {
    /// A plugin whose config is deserialized with serde from the JSON the host gives.
    pub fn new(name: &str) -> Self {
        Self::with_parser_option(name, Some(serde_parser()))
    }
}

impl<C: 'static> Plugin<C> {
    /// A plugin whose config is built by `parse` from the JSON object (for configs that
    /// hold clients, compiled patterns, …).
    pub fn with_parser<E: std::fmt::Display>(
        name: &str,
        parse: impl Fn(&Value) -> Result<C, E> + 'static,
    ) -> Self {
        Self::with_parser_option(name, None).parse(parse)
    }

    #[doc(hidden)]
    pub fn with_parser_option(name: &str, parse: Option<ParseFn<C>>) -> Self {
        Plugin {
            name: name.to_string(),
            parse,
            parse_rule: None,
            merge: false,
            validate: None,
            on_plugin_start: None,
            request_headers: None,
            request_body: None,
            streaming_request_body: None,
            response_headers: None,
            response_body: None,
            streaming_response_body: None,
            stream_done: None,
            rebuild_after_requests: 0,
            rebuild_max_memory_bytes: 0,
            max_requests_per_io_cycle: 0,
        }
    }

    /// Parses the global config and (unless [`parse_override`](Self::parse_override) or
    /// [`merge_rules`](Self::merge_rules) is set) each rule's config, from the JSON object
    /// without `_rules_`, `_plugin_id_` and the `_match_*` keys.
    pub fn parse<E: std::fmt::Display>(
        mut self,
        parse: impl Fn(&Value) -> Result<C, E> + 'static,
    ) -> Self {
        self.parse = Some(Box::new(move |json| {
            parse(&Value::Object(json.clone())).map_err(|e| e.to_string())
        }));
        self
    }

    /// Parses each rule starting from the global config (wasm-go's `ParseOverrideConfig`):
    /// `parse(rule_json, global)`. Without global keys, `global` is `C::default()`.
    pub fn parse_override<E: std::fmt::Display>(
        mut self,
        parse: impl Fn(&Value, &C) -> Result<C, E> + 'static,
    ) -> Self
    where
        C: Default,
    {
        self.merge = false;
        self.parse_rule = Some(Box::new(move |rule, _, global| {
            let rule = Value::Object(rule.clone());
            let result = match global {
                Some(g) => parse(&rule, g),
                None => parse(&rule, &C::default()),
            };
            result.map_err(|e| e.to_string())
        }));
        self
    }

    /// With `true`, builds each rule's config from the global JSON with the rule's keys
    /// laid over it, then the normal parser: a rule only states what it changes.
    pub fn merge_rules(mut self, merge: bool) -> Self {
        if merge {
            self.parse_rule = None;
        }
        self.merge = merge;
        self
    }

    /// Checks every parsed config (global and rules); an error fails the start.
    pub fn validate<E: std::fmt::Display>(
        mut self,
        validate: impl Fn(&C) -> Result<(), E> + 'static,
    ) -> Self {
        self.validate = Some(Box::new(move |c| validate(c).map_err(|e| e.to_string())));
        self
    }

    /// Runs first when the plugin starts or reloads, before the config is parsed; an error
    /// fails the start (wasm-go's `PrePluginStartOrReload`).
    pub fn on_plugin_start<R: IntoOutcome<()>>(
        mut self,
        f: impl Fn(&mut PluginContext) -> R + 'static,
    ) -> Self {
        self.on_plugin_start = Some(Box::new(move |p| f(p).into_outcome()));
        self
    }

    /// Handles request headers.
    pub fn on_request_headers<R: IntoOutcome<HeaderAction>>(
        mut self,
        f: impl Fn(&mut HttpContext, &C) -> R + 'static,
    ) -> Self {
        self.request_headers = Some(Box::new(move |ctx, c| f(ctx, c).into_outcome()));
        self
    }

    /// Handles the whole request body, once it has all arrived.
    pub fn on_request_body<R: IntoOutcome<DataAction>>(
        mut self,
        f: impl Fn(&mut HttpContext, &C, &[u8]) -> R + 'static,
    ) -> Self {
        self.request_body = Some(Box::new(move |ctx, c, b| f(ctx, c, b).into_outcome()));
        self
    }

    /// Handles the request body chunk by chunk: the returned bytes replace the chunk.
    pub fn on_streaming_request_body<R: IntoOutcome<Vec<u8>>>(
        mut self,
        f: impl Fn(&mut HttpContext, &C, &[u8], bool) -> R + 'static,
    ) -> Self {
        self.streaming_request_body = Some(Box::new(move |ctx, c, b, last| {
            f(ctx, c, b, last).into_outcome()
        }));
        self
    }

    /// Handles response headers.
    pub fn on_response_headers<R: IntoOutcome<HeaderAction>>(
        mut self,
        f: impl Fn(&mut HttpContext, &C) -> R + 'static,
    ) -> Self {
        self.response_headers = Some(Box::new(move |ctx, c| f(ctx, c).into_outcome()));
        self
    }

    /// Handles the whole response body, once it has all arrived.
    pub fn on_response_body<R: IntoOutcome<DataAction>>(
        mut self,
        f: impl Fn(&mut HttpContext, &C, &[u8]) -> R + 'static,
    ) -> Self {
        self.response_body = Some(Box::new(move |ctx, c, b| f(ctx, c, b).into_outcome()));
        self
    }

    /// Handles the response body chunk by chunk: the returned bytes replace the chunk.
    pub fn on_streaming_response_body<R: IntoOutcome<Vec<u8>>>(
        mut self,
        f: impl Fn(&mut HttpContext, &C, &[u8], bool) -> R + 'static,
    ) -> Self {
        self.streaming_response_body = Some(Box::new(move |ctx, c, b, last| {
            f(ctx, c, b, last).into_outcome()
        }));
        self
    }

    /// Runs when the stream is done (in `on_log`, so access-log properties can be written).
    pub fn on_stream_done(mut self, f: impl Fn(&mut HttpContext, &C) + 'static) -> Self {
        self.stream_done = Some(Box::new(f));
        self
    }

    /// Asks the host to rebuild the VM after this many requests (Higress
    /// `wasm_need_rebuild`; 0 = never).
    pub fn rebuild_after_requests(mut self, requests: u64) -> Self {
        self.rebuild_after_requests = requests;
        self
    }

    /// Asks the host to rebuild the VM once its memory reaches this many bytes (0 = never).
    pub fn rebuild_max_memory_bytes(mut self, bytes: u64) -> Self {
        self.rebuild_max_memory_bytes = bytes;
        self
    }

    /// Calls the host's `set_global_max_requests_per_io_cycle` at start (0 = don't).
    pub fn max_requests_per_io_cycle(mut self, requests: u64) -> Self {
        self.max_requests_per_io_cycle = requests;
        self
    }

    /// Registers this plugin as the VM's plugin. Called once, from `_initialize`.
    pub fn register(self) {
        let name = self.name.clone();
        let runtime: Rc<dyn Dispatch> = Rc::new(Runtime {
            plugin: self,
            rules: RefCell::new(None),
            requests: Cell::new(0),
            rebuild_requested: Cell::new(false),
        });
        crate::exports::register(&name, runtime);
    }
}

/// The plugin (root) context: identity, configuration and plugin-wide storage. Given to
/// the start hook.
#[derive(Debug, Default)]
pub struct PluginContext {
    _private: (),
}

thread_local! {
    static PLUGIN_STORAGE: RefCell<std::collections::HashMap<String, Box<dyn Any>>> =
        RefCell::new(std::collections::HashMap::new());
}

impl PluginContext {
    pub(crate) fn new() -> Self {
        PluginContext { _private: () }
    }

    /// The plugin's registered name.
    pub fn plugin_name(&self) -> String {
        state::plugin_name()
    }

    /// The configuration's `_plugin_id_`, once the configuration is read.
    pub fn plugin_id(&self) -> Option<String> {
        state::plugin_id()
    }

    /// A plugin-level property (`["plugin_name"]`, `["plugin_vm_memory"]`, …).
    pub fn property(&self, path: &[&str]) -> Result<Option<Vec<u8>>> {
        let _ = state::switch_to(state::root_id());
        hostcalls::get_property(path)
    }

    /// The plugin's fingerprint: the host's `plugin_name` property (wasm-go's
    /// `GetPluginFingerPrint`), else the registered name.
    pub fn fingerprint(&self) -> String {
        self.property(&["plugin_name"])
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(state::plugin_name)
    }

    /// Runs `f` every `period_ms` milliseconds from the host's 100 ms tick (wasm-go's
    /// `RegisterTickFunc`). Call it from the start hook (or a parse function); the list
    /// starts over at each (re)configuration. See [`tick`](crate::tick).
    pub fn register_tick_func(&self, period_ms: u64, f: impl Fn() + 'static) {
        crate::tick::register_tick_func(period_ms, f);
    }

    /// [`register_tick_func`](Self::register_tick_func) for a plain function: the same
    /// function with the same period is registered once.
    pub fn register_tick_fn(&self, period_ms: u64, f: fn()) {
        crate::tick::register_tick_fn(period_ms, f);
    }

    /// [`register_tick_func`](Self::register_tick_func) deduplicated by `name`: the same
    /// name with the same period is registered once.
    pub fn register_named_tick_func(&self, name: &str, period_ms: u64, f: impl Fn() + 'static) {
        crate::tick::register_named_tick_func(name, period_ms, f);
    }

    /// Takes or renews this plugin's leader lease; whether this VM leads (wasm-go's
    /// `DoLeaderElection`, keyed by plugin name). See [`leader`](crate::leader).
    pub fn do_leader_election(&self) -> bool {
        crate::leader::do_leader_election()
    }

    /// Whether the last election made this VM the leader (wasm-go's `IsLeader`).
    pub fn is_leader(&self) -> bool {
        crate::leader::is_leader()
    }

    /// Stores a plugin-wide value under a key.
    pub fn set_context<T: 'static>(&self, key: &str, value: T) {
        PLUGIN_STORAGE.with(|s| s.borrow_mut().insert(key.to_string(), Box::new(value)));
    }

    /// A copy of a plugin-wide value, if it has type `T`.
    pub fn get_context<T: Clone + 'static>(&self, key: &str) -> Option<T> {
        PLUGIN_STORAGE.with(|s| {
            s.borrow()
                .get(key)
                .and_then(|b| b.downcast_ref::<T>())
                .cloned()
        })
    }
}

/// What the exports call; implemented by the runtime of each config type.
pub(crate) trait Dispatch {
    fn configure(&self, size: usize) -> bool;
    fn request_headers(&self, ctx: &mut HttpContext, end_of_stream: bool) -> u32;
    fn request_body(&self, ctx: &mut HttpContext, size: usize, end_of_stream: bool) -> u32;
    fn response_headers(&self, ctx: &mut HttpContext, end_of_stream: bool) -> u32;
    fn response_body(&self, ctx: &mut HttpContext, size: usize, end_of_stream: bool) -> u32;
    fn stream_done(&self, ctx: &mut HttpContext);
}

struct Runtime<C> {
    plugin: Plugin<C>,
    rules: RefCell<Option<Rc<RuleSet<C>>>>,
    requests: Cell<u64>,
    rebuild_requested: Cell<bool>,
}

/// The raw value of a header action for the marker this build exports.
pub(crate) fn header_raw(action: HeaderAction) -> u32 {
    if cfg!(feature = "standard-abi") {
        action.is_stop() as u32
    } else {
        action.raw()
    }
}

/// The raw value of a data action for the marker this build exports.
pub(crate) fn data_raw(action: DataAction) -> u32 {
    if cfg!(feature = "standard-abi") {
        action.is_stop() as u32
    } else {
        action.raw()
    }
}

impl<C: 'static> Runtime<C> {
    fn start(&self, size: usize) -> Result<(), String> {
        crate::tick::before_configure();
        let mut pctx = PluginContext::new();
        if let Some(hook) = &self.plugin.on_plugin_start {
            hook(&mut pctx).map_err(|e| format!("start hook failed: {e}"))?;
        }
        if self.plugin.max_requests_per_io_cycle > 0 {
            let arg = self.plugin.max_requests_per_io_cycle.to_le_bytes();
            if let Err(e) =
                hostcalls::call_foreign_function("set_global_max_requests_per_io_cycle", &arg)
            {
                crate::warn!("cannot set max requests per io cycle: {e}");
            }
        }
        let raw = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size)
            .map_err(|e| format!("cannot read the configuration: {e}"))?
            .unwrap_or_default();
        let value = if raw.iter().all(u8::is_ascii_whitespace) {
            crate::warn!("the configuration is empty; using {{}}");
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(&raw)
                .map_err(|e| format!("the configuration is not valid JSON: {e}"))?
        };
        let Value::Object(mut map) = value else {
            return Err("the configuration must be a JSON object".into());
        };
        let plugin_id = map.remove(PLUGIN_ID_KEY).map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        });
        state::set_plugin_id(plugin_id);
        let Some(parse) = &self.plugin.parse else {
            return Err(
                "the config type has no serde Deserialize impl and no parse function".into(),
            );
        };
        let validate = |c: C| -> Result<C, String> {
            if let Some(v) = &self.plugin.validate {
                v(&c)?;
            }
            Ok(c)
        };
        let parse_global = |json: &Map<String, Value>| validate(parse(json)?);
        let parse_rule = |rule: &Map<String, Value>,
                          global_json: &Map<String, Value>,
                          global: Option<&C>|
         -> Result<C, String> {
            if self.plugin.merge {
                let mut merged = global_json.clone();
                for (k, v) in rule {
                    merged.insert(k.clone(), v.clone());
                }
                return validate(parse(&merged)?);
            }
            match &self.plugin.parse_rule {
                Some(f) => validate(f(rule, global_json, global)?),
                None => validate(parse(rule)?),
            }
        };
        let rules = RuleSet::parse(&map, &parse_global, &parse_rule)?;
        for warning in &rules.warnings {
            crate::warn!("{warning}");
        }
        *self.rules.borrow_mut() = Some(Rc::new(rules));
        Ok(())
    }

    fn rebuild_checks(&self) {
        if self.rebuild_requested.get() {
            return;
        }
        let n = self.requests.get() + 1;
        self.requests.set(n);
        let mut reason = None;
        if self.plugin.rebuild_after_requests > 0 && n >= self.plugin.rebuild_after_requests {
            reason = Some(format!("{n} requests"));
        }
        if reason.is_none() && self.plugin.rebuild_max_memory_bytes > 0 {
            if let Ok(Some(bytes)) = hostcalls::get_property(&["plugin_vm_memory"]) {
                if bytes.len() >= 8 {
                    let mut le = [0u8; 8];
                    le.copy_from_slice(&bytes[..8]);
                    let memory = u64::from_le_bytes(le);
                    if memory >= self.plugin.rebuild_max_memory_bytes {
                        reason = Some(format!("{memory} bytes of memory"));
                    }
                }
            }
        }
        if let Some(reason) = reason {
            match hostcalls::set_property(&["wasm_need_rebuild"], b"true") {
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
    fn finish_route_call(&self, ctx: &mut HttpContext, body: Vec<u8>, headers_phase: bool) -> u32 {
        let Some(callback) = ctx.data().route_callback.take() else {
            return header_raw(HeaderAction::Continue);
        };
        if !headers_phase {
            if let Err(e) =
                hostcalls::remove_map_value(MapType::HttpResponseHeaders, "content-length")
            {
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
        let response = crate::http::HttpResponse {
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

    fn body(&self, ctx: &mut HttpContext, size: usize, end_of_stream: bool, request: bool) -> u32 {
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
                &self.plugin.streaming_request_body,
                &self.plugin.request_body,
                BufferType::HttpRequestBody,
                "request body handler",
            )
        } else {
            (
                &self.plugin.streaming_response_body,
                &self.plugin.response_body,
                BufferType::HttpResponseBody,
                "response body handler",
            )
        };
        let read = || hostcalls::get_buffer(buffer, 0, size).map(Option::unwrap_or_default);
        if let (Some(f), false) = (streaming, buffer_switch) {
            let outcome = read().and_then(|chunk| {
                let out = f(ctx, &config, &chunk, end_of_stream)?;
                if out != chunk {
                    ctx.enter()?;
                    hostcalls::set_buffer(buffer, 0, u32::MAX as usize, &out)?;
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
    hostcalls::get_property(&[path])
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

impl<C: 'static> Dispatch for Runtime<C> {
    fn configure(&self, size: usize) -> bool {
        match self.start(size) {
            Ok(()) => true,
            Err(e) => {
                crate::error!("failed to start: {e}");
                false
            }
        }
    }

    fn request_headers(&self, ctx: &mut HttpContext, end_of_stream: bool) -> u32 {
        // Decoded in place: the SDK keeps only the few headers below.
        let raw = hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default();
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
            d.request_id = head.request_id;
        }
        if let Some(id) = &request_id {
            let _ = hostcalls::set_property(&["x_request_id"], id.as_bytes());
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
        let Some(f) = &self.plugin.request_headers else {
            return continue_raw;
        };
        let outcome = f(ctx, &config);
        let raw = self.finish_headers(ctx, "request headers handler", outcome, true);
        ctx.data().request_headers_stopped = raw != continue_raw;
        raw
    }

    fn request_body(&self, ctx: &mut HttpContext, size: usize, end_of_stream: bool) -> u32 {
        ctx.data().phase = Phase::RequestBody;
        self.body(ctx, size, end_of_stream, true)
    }

    fn response_headers(&self, ctx: &mut HttpContext, end_of_stream: bool) -> u32 {
        ctx.data().phase = Phase::ResponseHeaders;
        let continue_raw = header_raw(HeaderAction::Continue);
        let Some(config) = self.config_of(ctx) else {
            return continue_raw;
        };
        {
            let text = |name| {
                hostcalls::get_map_value(MapType::HttpResponseHeaders, name)
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
        let Some(f) = &self.plugin.response_headers else {
            return continue_raw;
        };
        let outcome = f(ctx, &config);
        self.finish_headers(ctx, "response headers handler", outcome, false)
    }

    fn response_body(&self, ctx: &mut HttpContext, size: usize, end_of_stream: bool) -> u32 {
        ctx.data().phase = Phase::ResponseBody;
        if self.config_of(ctx).is_some() && ctx.route_call_pending() {
            if !end_of_stream {
                return data_raw(DataAction::StopIterationAndBuffer);
            }
            let body = hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size)
                .ok()
                .flatten()
                .unwrap_or_default();
            return self.finish_route_call(ctx, body, false);
        }
        self.body(ctx, size, end_of_stream, false)
    }

    fn stream_done(&self, ctx: &mut HttpContext) {
        ctx.data().phase = Phase::Done;
        let Some(config) = self.config_of(ctx) else {
            return;
        };
        if let Some(f) = &self.plugin.stream_done {
            f(ctx, &config);
        }
    }
}

/// Picks the config parser for `C` in the [`plugin!`](macro@crate::plugin) macro: serde when `C`
/// implements `Deserialize`, none otherwise (then a `parse` function is required).
#[doc(hidden)]
pub struct ParserProbe<C>(pub PhantomData<C>);

#[doc(hidden)]
pub trait ViaSerde<C> {
    fn default_parser(&self) -> Option<ParseFn<C>>;
}

impl<C: DeserializeOwned + 'static> ViaSerde<C> for ParserProbe<C> {
    fn default_parser(&self) -> Option<ParseFn<C>> {
        Some(serde_parser())
    }
}

#[doc(hidden)]
pub trait WithoutSerde<C> {
    fn default_parser(&self) -> Option<ParseFn<C>>;
}

impl<C> WithoutSerde<C> for &ParserProbe<C> {
    fn default_parser(&self) -> Option<ParseFn<C>> {
        None
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
