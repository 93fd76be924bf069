//! [`Plugin`]: the builder of a plugin's definition (name, configuration type, parsers,
//! handlers and options), and [`NoConfig`] for plugins that take no configuration.
//!
//! Most plugins use the [`plugin!`](macro@crate::plugin) macro, which builds a `Plugin` and
//! registers it when the VM starts. The builder can also be used directly from
//! [`entry!`](crate::entry). What the SDK then does in each phase is described in
//! [`runtime`] and, for the start, [`start`](crate::start).
//!
//! Handlers may return the action itself or a `Result`; an `Err` is logged and fails the
//! request with a 500.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde_json::Value;
use wasmgate_abi::{DataAction, HeaderAction};

use crate::context::HttpContext;
use crate::definition::{serde_parser, Definition, ParseFn};
use crate::error::Result;
use crate::outcome::IntoOutcome;
use crate::plugin_context::PluginContext;
use crate::rules::ConfigError;
use crate::runtime;

/// A configuration type for plugins that take none: it accepts any JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoConfig;

impl<'de> serde::Deserialize<'de> for NoConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(NoConfig)
    }
}

/// A plugin definition being built: name, config type `C`, how to parse it, and the
/// handlers. [`register`](Self::register) makes it the VM's plugin.
pub struct Plugin<C> {
    definition: Definition<C>,
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
            definition: Definition::new(name, parse),
        }
    }

    /// Parses the global config and (unless [`parse_override`](Self::parse_override) or
    /// [`merge_rules`](Self::merge_rules) is set) each rule's config, from the JSON object
    /// without `_rules_`, `_plugin_id_` and the `_match_*` keys.
    pub fn parse<E: std::fmt::Display>(
        mut self,
        parse: impl Fn(&Value) -> Result<C, E> + 'static,
    ) -> Self {
        self.definition.parse = Some(Box::new(move |json| {
            parse(&Value::Object(json.clone())).map_err(ConfigError::invalid)
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
        self.definition.merge = false;
        self.definition.parse_rule = Some(Box::new(move |rule, _, global| {
            let rule = Value::Object(rule.clone());
            let result = match global {
                Some(g) => parse(&rule, g),
                None => parse(&rule, &C::default()),
            };
            result.map_err(ConfigError::invalid)
        }));
        self
    }

    /// With `true`, builds each rule's config from the global JSON with the rule's keys
    /// laid over it, then the normal parser: a rule only states what it changes.
    pub fn merge_rules(mut self, merge: bool) -> Self {
        if merge {
            self.definition.parse_rule = None;
        }
        self.definition.merge = merge;
        self
    }

    /// Checks every parsed config (global and rules); an error fails the start.
    pub fn validate<E: std::fmt::Display>(
        mut self,
        validate: impl Fn(&C) -> Result<(), E> + 'static,
    ) -> Self {
        self.definition.validate =
            Some(Box::new(move |c| validate(c).map_err(ConfigError::invalid)));
        self
    }

    /// Runs first when the plugin starts or reloads, before the config is parsed; an error
    /// fails the start (wasm-go's `PrePluginStartOrReload`).
    pub fn on_plugin_start<R: IntoOutcome<()>>(
        mut self,
        f: impl Fn(&PluginContext) -> R + 'static,
    ) -> Self {
        self.definition.on_plugin_start = Some(Box::new(move |p| f(p).into_outcome()));
        self
    }

    /// Handles request headers.
    pub fn on_request_headers<R: IntoOutcome<HeaderAction>>(
        mut self,
        f: impl Fn(&HttpContext, &C) -> R + 'static,
    ) -> Self {
        self.definition.request_headers = Some(Box::new(move |ctx, c| f(ctx, c).into_outcome()));
        self
    }

    /// Handles the whole request body, once it has all arrived.
    pub fn on_request_body<R: IntoOutcome<DataAction>>(
        mut self,
        f: impl Fn(&HttpContext, &C, &[u8]) -> R + 'static,
    ) -> Self {
        self.definition.request_body = Some(Box::new(move |ctx, c, b| f(ctx, c, b).into_outcome()));
        self
    }

    /// Handles the request body chunk by chunk: the returned bytes replace the chunk.
    pub fn on_streaming_request_body<R: IntoOutcome<Vec<u8>>>(
        mut self,
        f: impl Fn(&HttpContext, &C, &[u8], bool) -> R + 'static,
    ) -> Self {
        self.definition.streaming_request_body = Some(Box::new(move |ctx, c, b, last| {
            f(ctx, c, b, last).into_outcome()
        }));
        self
    }

    /// Handles response headers.
    pub fn on_response_headers<R: IntoOutcome<HeaderAction>>(
        mut self,
        f: impl Fn(&HttpContext, &C) -> R + 'static,
    ) -> Self {
        self.definition.response_headers = Some(Box::new(move |ctx, c| f(ctx, c).into_outcome()));
        self
    }

    /// Handles the whole response body, once it has all arrived.
    pub fn on_response_body<R: IntoOutcome<DataAction>>(
        mut self,
        f: impl Fn(&HttpContext, &C, &[u8]) -> R + 'static,
    ) -> Self {
        self.definition.response_body =
            Some(Box::new(move |ctx, c, b| f(ctx, c, b).into_outcome()));
        self
    }

    /// Handles the response body chunk by chunk: the returned bytes replace the chunk.
    pub fn on_streaming_response_body<R: IntoOutcome<Vec<u8>>>(
        mut self,
        f: impl Fn(&HttpContext, &C, &[u8], bool) -> R + 'static,
    ) -> Self {
        self.definition.streaming_response_body = Some(Box::new(move |ctx, c, b, last| {
            f(ctx, c, b, last).into_outcome()
        }));
        self
    }

    /// Handles the request trailers (gRPC and other HTTP/2 requests that end with them).
    /// A whole-body handler still waiting for the end gets the body first: the trailers
    /// end the message. A stop action holds the request until the plugin resumes it.
    pub fn on_request_trailers<R: IntoOutcome<HeaderAction>>(
        mut self,
        f: impl Fn(&HttpContext, &C) -> R + 'static,
    ) -> Self {
        self.definition.request_trailers = Some(Box::new(move |ctx, c| f(ctx, c).into_outcome()));
        self
    }

    /// Handles the response trailers (a gRPC answer's `grpc-status` and `grpc-message`),
    /// after the body as [`on_request_trailers`](Self::on_request_trailers).
    pub fn on_response_trailers<R: IntoOutcome<HeaderAction>>(
        mut self,
        f: impl Fn(&HttpContext, &C) -> R + 'static,
    ) -> Self {
        self.definition.response_trailers = Some(Box::new(move |ctx, c| f(ctx, c).into_outcome()));
        self
    }

    /// Runs when the stream is done (in `on_log`, so access-log properties can be written).
    pub fn on_stream_done(mut self, f: impl Fn(&HttpContext, &C) + 'static) -> Self {
        self.definition.stream_done = Some(Box::new(f));
        self
    }

    /// Asks the host to rebuild the VM after this many requests (Higress
    /// `wasm_need_rebuild`; 0 = never).
    pub fn rebuild_after_requests(mut self, requests: u64) -> Self {
        self.definition.rebuild_after_requests = requests;
        self
    }

    /// Asks the host to rebuild the VM once its memory reaches this many bytes (0 = never).
    pub fn rebuild_max_memory_bytes(mut self, bytes: u64) -> Self {
        self.definition.rebuild_max_memory_bytes = bytes;
        self
    }

    /// Calls the host's `set_global_max_requests_per_io_cycle` at start (0 = don't).
    pub fn max_requests_per_io_cycle(mut self, requests: u64) -> Self {
        self.definition.max_requests_per_io_cycle = requests;
        self
    }

    /// Registers this plugin as the VM's plugin. Called once, from `_initialize`.
    pub fn register(self) {
        runtime::register(self.definition);
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
