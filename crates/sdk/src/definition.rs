//! What a plugin is: its name, how its configuration is parsed and checked, its handlers and
//! its VM options. The [`Plugin`](crate::Plugin) builder fills a `Definition`; the runtime
//! (`runtime`, `start`) drives it from the host's callbacks.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wasmgate_abi::{DataAction, HeaderAction};

use crate::context::HttpContext;
use crate::error::Result;
use crate::plugin_context::PluginContext;
use crate::rules::ConfigError;

/// Parses a config from its JSON object.
pub(crate) type ParseFn<C> = Box<dyn Fn(&Map<String, Value>) -> Result<C, ConfigError>>;
/// Parses a rule's config from its JSON, the global JSON and the parsed global config.
pub(crate) type RuleFn<C> =
    Box<dyn Fn(&Map<String, Value>, &Map<String, Value>, Option<&C>) -> Result<C, ConfigError>>;
/// Checks a parsed config.
pub(crate) type ValidateFn<C> = Box<dyn Fn(&C) -> Result<(), ConfigError>>;
/// The start hook.
pub(crate) type StartFn = Box<dyn Fn(&PluginContext) -> Result<()>>;
/// A header handler.
pub(crate) type HeadersFn<C> = Box<dyn Fn(&HttpContext, &C) -> Result<HeaderAction>>;
/// A buffered body handler.
pub(crate) type BodyFn<C> = Box<dyn Fn(&HttpContext, &C, &[u8]) -> Result<DataAction>>;
/// A streaming body handler: the chunk and whether it is the last; returns the new chunk.
pub(crate) type ChunkFn<C> = Box<dyn Fn(&HttpContext, &C, &[u8], bool) -> Result<Vec<u8>>>;
/// The stream-done handler.
pub(crate) type DoneFn<C> = Box<dyn Fn(&HttpContext, &C)>;

/// A plugin: name, config type `C`, parsers, handlers and options.
pub(crate) struct Definition<C> {
    pub(crate) name: String,
    pub(crate) parse: Option<ParseFn<C>>,
    pub(crate) parse_rule: Option<RuleFn<C>>,
    pub(crate) merge: bool,
    pub(crate) validate: Option<ValidateFn<C>>,
    pub(crate) on_plugin_start: Option<StartFn>,
    pub(crate) request_headers: Option<HeadersFn<C>>,
    pub(crate) request_body: Option<BodyFn<C>>,
    pub(crate) streaming_request_body: Option<ChunkFn<C>>,
    pub(crate) response_headers: Option<HeadersFn<C>>,
    pub(crate) response_body: Option<BodyFn<C>>,
    pub(crate) streaming_response_body: Option<ChunkFn<C>>,
    pub(crate) request_trailers: Option<HeadersFn<C>>,
    pub(crate) response_trailers: Option<HeadersFn<C>>,
    pub(crate) stream_done: Option<DoneFn<C>>,
    pub(crate) rebuild_after_requests: u64,
    pub(crate) rebuild_max_memory_bytes: u64,
    pub(crate) max_requests_per_io_cycle: u64,
}

impl<C> Definition<C> {
    /// A plugin with a name and a parser, and nothing else yet.
    pub(crate) fn new(name: &str, parse: Option<ParseFn<C>>) -> Self {
        Definition {
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
            request_trailers: None,
            response_trailers: None,
            stream_done: None,
            rebuild_after_requests: 0,
            rebuild_max_memory_bytes: 0,
            max_requests_per_io_cycle: 0,
        }
    }
}

/// The host's foreign function that takes the callbacks a plugin does not need.
pub(crate) const UNUSED_CALLBACKS: &str = "wasmgate_unused_callbacks";

impl<C> Definition<C> {
    /// The per-request callbacks this plugin does without, which the host need not call
    /// (told it at start through [`UNUSED_CALLBACKS`]). The context's creation and
    /// deletion and the request headers always run: the SDK keeps the request's state and
    /// matches its rules there. A request-body handler keeps every response phase (a route
    /// call, made there, takes the response); a stream-done handler keeps the response
    /// headers (it may read the response's content type).
    pub(crate) fn unused_callbacks(&self) -> Vec<&'static str> {
        let request_body = self.request_body.is_some() || self.streaming_request_body.is_some();
        let response_body =
            self.response_body.is_some() || self.streaming_response_body.is_some() || request_body;
        let response_headers =
            response_body || self.response_headers.is_some() || self.stream_done.is_some();
        let wanted = [
            ("proxy_on_request_body", request_body),
            (
                "proxy_on_request_trailers",
                request_body || self.request_trailers.is_some(),
            ),
            ("proxy_on_response_headers", response_headers),
            ("proxy_on_response_body", response_body),
            (
                "proxy_on_response_trailers",
                response_body || self.response_trailers.is_some(),
            ),
            // The SDK's `proxy_on_done` only answers "done".
            ("proxy_on_done", false),
            ("proxy_on_log", self.stream_done.is_some()),
        ];
        wanted
            .into_iter()
            .filter(|(_, wanted)| !wanted)
            .map(|(name, _)| name)
            .collect()
    }
}

/// The parser of a config type that implements `Deserialize`.
pub(crate) fn serde_parser<C: DeserializeOwned>() -> ParseFn<C> {
    Box::new(|json| {
        serde_json::from_value(Value::Object(json.clone())).map_err(ConfigError::invalid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_only() -> Definition<()> {
        let mut d = Definition::new("t", None);
        d.request_headers = Some(Box::new(|_, _| Ok(HeaderAction::Continue)));
        d
    }

    #[test]
    fn a_request_headers_plugin_needs_no_response_phase_nor_log() {
        assert_eq!(
            headers_only().unused_callbacks(),
            [
                "proxy_on_request_body",
                "proxy_on_request_trailers",
                "proxy_on_response_headers",
                "proxy_on_response_body",
                "proxy_on_response_trailers",
                "proxy_on_done",
                "proxy_on_log"
            ]
        );
    }

    #[test]
    fn a_request_body_handler_keeps_every_response_phase_for_route_calls() {
        let mut d = headers_only();
        d.request_body = Some(Box::new(|_, _, _| Ok(DataAction::Continue)));
        assert_eq!(d.unused_callbacks(), ["proxy_on_done", "proxy_on_log"]);
    }

    #[test]
    fn a_stream_done_handler_keeps_the_log_and_the_response_headers() {
        let mut d = headers_only();
        d.stream_done = Some(Box::new(|_, _| {}));
        let unused = d.unused_callbacks();
        assert!(!unused.contains(&"proxy_on_log"));
        assert!(!unused.contains(&"proxy_on_response_headers"));
        assert!(unused.contains(&"proxy_on_response_body"));
    }
}
