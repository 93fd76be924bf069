//! `http-call`: fetches a token from an auth cluster and copies it into the
//! request, the classic "external auth callout" pattern.
//!
//! Config (every field optional; the defaults are shown):
//! `{"cluster": "outbound|8080||auth.dns", "authority": "auth", "path": "/token",
//!   "tokenHeader": "x-token", "timeoutMs": 5000}`
//!
//! Request headers: `dispatch_http_call(cluster, [":method: GET", ":path: <path>",
//! ":authority: <authority>"], no body, no trailers, timeoutMs)`.
//! - dispatch fails → local reply `500`, body `http call failed`.
//! - dispatch ok → Pause; then in `on_http_call_response`:
//!   - no headers (failed/timed out call) or `:status` != `200` → local reply
//!     `500`, body `http call failed`;
//!   - else the callout response header `<tokenHeader>` is set on the request
//!     (replacing any client-sent value; when the callout response lacks it,
//!     the request header is removed) and the request is resumed.

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use serde::Deserialize;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> {
        Box::new(CallRoot { config: Rc::new(Config::default()) })
    });
}}

#[derive(Clone, Deserialize)]
#[serde(default)]
struct Config {
    cluster: String,
    authority: String,
    path: String,
    #[serde(rename = "tokenHeader")]
    token_header: String,
    #[serde(rename = "timeoutMs")]
    timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cluster: "outbound|8080||auth.dns".into(),
            authority: "auth".into(),
            path: "/token".into(),
            token_header: "x-token".into(),
            timeout_ms: 5000,
        }
    }
}

struct CallRoot {
    config: Rc<Config>,
}

impl Context for CallRoot {}

impl RootContext for CallRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let raw = self.get_plugin_configuration().unwrap_or_default();
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            self.config = Rc::new(Config::default());
            return true;
        }
        match serde_json::from_slice::<Config>(&raw) {
            Ok(config) => {
                self.config = Rc::new(config);
                true
            }
            Err(err) => {
                proxy_wasm::hostcalls::log(
                    LogLevel::Error,
                    &format!("http-call: bad config: {err}"),
                )
                .ok();
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Call {
            config: self.config.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Call {
    config: Rc<Config>,
}

const FAILED: &[u8] = b"http call failed";

impl Context for Call {
    fn on_http_call_response(
        &mut self,
        _token_id: u32,
        num_headers: usize,
        _body_size: usize,
        _num_trailers: usize,
    ) {
        let ok = num_headers > 0
            && self.get_http_call_response_header(":status").as_deref() == Some("200");
        if !ok {
            self.send_http_response(500, vec![], Some(FAILED));
            return;
        }
        let token = self.get_http_call_response_header(&self.config.token_header);
        self.set_http_request_header(&self.config.token_header, token.as_deref());
        self.resume_http_request();
    }
}

impl HttpContext for Call {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let c = &self.config;
        match self.dispatch_http_call(
            &c.cluster,
            vec![
                (":method", "GET"),
                (":path", &c.path),
                (":authority", &c.authority),
            ],
            None,
            vec![],
            Duration::from_millis(c.timeout_ms),
        ) {
            Ok(_) => Action::Pause,
            Err(_) => {
                self.send_http_response(500, vec![], Some(FAILED));
                Action::Pause
            }
        }
    }
}
