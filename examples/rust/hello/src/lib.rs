//! `hello`: the Higress guide's first plugin, on the stock proxy-wasm SDK.
//!
//! Config: `{"mockEnable": bool}`; an empty (or absent) config means `false`.
//! Request headers: adds request header `hello: world`; when `mockEnable` is
//! true, answers locally with `200` and body `hello world` and pauses,
//! otherwise continues.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use serde::Deserialize;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(HelloRoot::default()) });
}}

#[derive(Default, Clone, Deserialize)]
struct Config {
    #[serde(rename = "mockEnable", default)]
    mock_enable: bool,
}

#[derive(Default)]
struct HelloRoot {
    config: Config,
}

impl Context for HelloRoot {}

impl RootContext for HelloRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let raw = self.get_plugin_configuration().unwrap_or_default();
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            self.config = Config::default();
            return true;
        }
        match serde_json::from_slice::<Config>(&raw) {
            Ok(config) => {
                self.config = config;
                true
            }
            Err(err) => {
                proxy_wasm::hostcalls::log(LogLevel::Error, &format!("hello: bad config: {err}"))
                    .ok();
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Hello {
            mock_enable: self.config.mock_enable,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Hello {
    mock_enable: bool,
}

impl Context for Hello {}

impl HttpContext for Hello {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        self.add_http_request_header("hello", "world");
        if self.mock_enable {
            self.send_http_response(200, vec![], Some(b"hello world"));
            return Action::Pause;
        }
        Action::Continue
    }
}
