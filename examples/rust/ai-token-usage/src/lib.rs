//! `ai-token-usage`: token statistics for OpenAI-style LLM traffic, on wasmgate-sdk's `ai`
//! helpers: the Rust twin of `examples/go/ai-token-usage`.
//!
//! Config `{}`. It reads the request's `model`, passes every response chunk on as it comes
//! (a streamed answer is never held back), reads Server-Sent Events as they arrive (an event
//! split across chunks is read once whole) or a plain JSON answer at its end, and writes
//! `model`, `request_model`, `input_token`, `output_token`, `total_token`, `response_type`
//! (`stream` or `normal`) and `chunks` (body calls seen) into Higress's `ai_log`.

use wasmgate_sdk::ai::{usage::write_ai_log, UsageTracker};
use wasmgate_sdk::prelude::*;

/// What the plugin keeps for a request's answer.
struct Answer {
    tracker: UsageTracker,
    chunks: u64,
}

fn on_request_body(ctx: &HttpContext, _: &NoConfig, body: &[u8]) -> DataAction {
    let model = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("model")?.as_str().map(str::to_string))
        .unwrap_or_default();
    ctx.set_user_attribute("request_model", model);
    DataAction::Continue
}

fn on_response_headers(ctx: &HttpContext, _: &NoConfig) -> HeaderAction {
    let streamed = ctx
        .response_header("content-type")
        .is_some_and(|t| t.starts_with("text/event-stream"));
    ctx.set_user_attribute("response_type", if streamed { "stream" } else { "normal" });
    ctx.insert(Answer {
        tracker: UsageTracker::new(streamed),
        chunks: 0,
    });
    HeaderAction::Continue
}

fn on_streaming_response_body(
    ctx: &HttpContext,
    _: &NoConfig,
    chunk: &[u8],
    last: bool,
) -> Result<Vec<u8>> {
    ctx.with(|answer: &mut Answer| {
        answer.chunks += 1;
        answer.tracker.feed(chunk, last);
    });
    if last {
        if let Some(answer) = ctx.take::<Answer>() {
            ctx.set_user_attribute("chunks", answer.chunks);
            write_ai_log(ctx, answer.tracker.usage())?;
        }
    }
    Ok(chunk.to_vec())
}

wasmgate_sdk::plugin! {
    name: "ai-token-usage",
    config: NoConfig,
    on_request_body,
    on_response_headers,
    on_streaming_response_body,
}
