//! [`HttpContext::route_call`]: send the request to its route's upstream rewritten as
//! another request, and hand the answer to a callback instead of the client (wasm-go's
//! `RouteCall`). The runtime hands the answer to the callback.

use wasmgate_abi::{BufferType, MapType};

use crate::context::{HttpContext, Phase};
use crate::error::{Error, Result};
use crate::outcome::IntoOutcome;
use crate::raw;
use crate::response::HttpResponse;
use crate::url::Url;

impl HttpContext {
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
        callback: impl FnOnce(&HttpContext, HttpResponse) -> R + 'static,
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
        raw::remove_map_value(map, "accept-encoding")?;
        raw::remove_map_value(map, "content-length")?;
        for (original, saved) in [
            (":method", "x-envoy-original-method"),
            (":path", "x-envoy-original-path"),
            (":authority", "x-envoy-original-host"),
        ] {
            let value = raw::get_map_value(map, original)?.unwrap_or_default();
            raw::replace_map_value(map, saved, &value)?;
        }
        raw::replace_map_value(map, ":method", method.as_bytes())?;
        let parsed = Url::parse(url);
        raw::replace_map_value(map, ":path", parsed.path_and_query().as_bytes())?;
        if let Some(host) = parsed.host.filter(|h| !h.is_empty()) {
            raw::replace_map_value(map, ":authority", host.as_bytes())?;
        }
        for (k, v) in headers {
            raw::replace_map_value(map, k, v.as_bytes())?;
        }
        raw::set_buffer(
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
}
