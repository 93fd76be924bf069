//! `sdk-abi-wide`: a plugin written for the conformance suite
//! (`tests/conformance/tests/abi_wide.rs`), not an example to copy. The Rust twin of the Go
//! plugin `tests/conformance/go/abi-wide`: the same config, the same `x-probe` actions, the
//! same answers.
//!
//! Config `{"calloutCluster": "callout", "calloutTimeout": 5000}`. The request header
//! `x-probe` picks what it does:
//!
//! - `headers`: add/replace/remove request and response headers;
//! - `req-replace`, `req-append`, `req-prepend`: buffered request body changes;
//!   `req-stream`: each chunk upper-cased, `|end` after the last;
//! - `resp-replace`, `resp-append`, `resp-prepend`: buffered response body changes;
//!   `resp-stream`: each chunk wrapped in `[...]`;
//! - `reply-req-headers`, `reply-req-body`, `reply-resp-headers`, `reply-resp-body`: local
//!   replies from each phase;
//! - `props`: properties in `x-req-prop-*` (request) and `x-resp-prop-*` (response) headers;
//!   `props-late`: request-derived properties and a request header read at response headers
//!   (`x-late-*`);
//! - `chunks`: one log line per body call (its size, whether it ends the stream);
//! - `callout`: GET `/abi-wide-callout` on the callout cluster, status and body reported;
//! - `ticks`: `x-ticked: yes` once the tick function has counted in shared data;
//! - `shared`: shared data get/set with CAS (and a CAS mismatch), reported in `x-shared`;
//! - `metrics`: a counter, a gauge and a histogram;
//! - `log`: one line per log level, and one when the stream is done.

mod phases;
mod state;

use wasmgate_sdk::prelude::*;

/// The plugin configuration.
#[derive(Deserialize, Default)]
pub struct Config {
    #[serde(rename = "calloutCluster", default)]
    callout_cluster: String,
    #[serde(rename = "calloutTimeout", default)]
    callout_timeout: u32,
}

/// The request's `x-probe` action.
#[derive(Clone)]
struct Probe(String);

fn probe(ctx: &HttpContext) -> String {
    ctx.get::<Probe>().map(|p| p.0).unwrap_or_default()
}

fn on_plugin_start(plugin: &PluginContext) {
    plugin.register_tick(Tick::every_ms(100), state::on_tick);
}

fn on_request_headers(ctx: &HttpContext, config: &Config) -> Result<HeaderAction> {
    let action = ctx.request_header("x-probe").unwrap_or_default();
    ctx.insert(Probe(action.clone()));
    match action.as_str() {
        "headers" => phases::request_headers(ctx)?,
        "req-replace" | "req-append" | "req-prepend" | "reply-req-body" => {
            ctx.remove_request_header("content-length")?;
            ctx.buffer_request_body();
        }
        "req-stream" => ctx.remove_request_header("content-length")?,
        "reply-req-headers" => {
            return ctx.send_response(
                403,
                &[("x-local", "request-headers")],
                "denied at request headers",
            );
        }
        "props" => phases::request_properties(ctx)?,
        "callout" => phases::callout(ctx, config)?,
        "ticks" => state::report_ticks(ctx)?,
        "shared" => state::shared_data(ctx)?,
        "metrics" => state::bump_metrics(ctx)?,
        "log" => log_every_level(),
        _ => {}
    }
    Ok(HeaderAction::Continue)
}

fn on_response_headers(ctx: &HttpContext, _config: &Config) -> Result<HeaderAction> {
    match probe(ctx).as_str() {
        "headers" => phases::response_headers(ctx)?,
        "resp-replace" | "resp-append" | "resp-prepend" => {
            ctx.remove_response_header("content-length")?;
            ctx.buffer_response_body();
        }
        "resp-stream" => ctx.remove_response_header("content-length")?,
        "reply-resp-headers" => {
            return ctx.send_response(
                401,
                &[("x-local", "response-headers")],
                "replaced at response headers",
            );
        }
        "reply-resp-body" if ctx.has_response_body() => {
            ctx.buffer_response_body();
            // The reply in the body phase replaces a response whose headers were held.
            return Ok(HeaderAction::StopIteration);
        }
        "props" => phases::response_properties(ctx)?,
        "props-late" => phases::late_properties(ctx)?,
        _ => {}
    }
    Ok(HeaderAction::Continue)
}

fn on_stream_done(ctx: &HttpContext, _config: &Config) {
    if probe(ctx) == "log" {
        info!("done: {} {}", ctx.method(), ctx.path());
    }
}

fn log_every_level() {
    trace!("probe log trace");
    debug!("probe log debug");
    info!("probe log info");
    warn!("probe log warn");
    error!("probe log error");
    critical!("probe log critical");
}

wasmgate_sdk::plugin! {
    name: "sdk-abi-wide",
    config: Config,
    on_plugin_start,
    on_request_headers,
    on_streaming_request_body: phases::on_streaming_request_body,
    on_request_body: phases::on_request_body,
    on_response_headers,
    on_streaming_response_body: phases::on_streaming_response_body,
    on_response_body: phases::on_response_body,
    on_stream_done,
}
