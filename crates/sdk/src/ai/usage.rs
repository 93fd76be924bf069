//! Token usage of LLM answers, and the `ai_log` attributes it becomes.
//!
//! The field names are those wasm-go's `tokenusage` reads: OpenAI chat completions
//! (`usage.prompt_tokens`, `usage.completion_tokens`, `usage.total_tokens`), OpenAI responses
//! (`usage.input_tokens` / `output_tokens`, also under `response.`), Anthropic messages
//! (`usage` and `message.usage` with `input_tokens` / `output_tokens`), Gemini
//! (`usageMetadata.promptTokenCount`, `candidatesTokenCount`, `totalTokenCount`); the model
//! from `model`, `response.model`, `message.model` or `modelVersion`.

use serde_json::Value;

use super::sse::{SseEvent, SseParser};
use crate::context::HttpContext;
use crate::error::Result;

/// What an answer used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// The model that answered (empty when the answer did not say).
    pub model: String,
    /// Prompt (input) tokens.
    pub input_tokens: u64,
    /// Completion (output) tokens.
    pub output_tokens: u64,
    /// All tokens (input + output when the answer did not say).
    pub total_tokens: u64,
}

const MODEL: [&str; 4] = [
    "/model",
    "/response/model",
    "/message/model",
    "/modelVersion",
];
const INPUT: [&str; 6] = [
    "/usage/prompt_tokens",
    "/usage/input_tokens",
    "/response/usage/input_tokens",
    "/message/usage/input_tokens",
    "/usageMetadata/promptTokenCount",
    "/usage/promptTokenCount",
];
const OUTPUT: [&str; 5] = [
    "/usage/completion_tokens",
    "/usage/output_tokens",
    "/response/usage/output_tokens",
    "/message/usage/output_tokens",
    "/usageMetadata/candidatesTokenCount",
];
const TOTAL: [&str; 3] = [
    "/usage/total_tokens",
    "/response/usage/total_tokens",
    "/usageMetadata/totalTokenCount",
];

fn first_u64(value: &Value, paths: &[&str]) -> Option<u64> {
    paths.iter().find_map(|p| value.pointer(p)?.as_u64())
}

impl TokenUsage {
    /// The usage one JSON answer (or streamed event) reports, if it reports any.
    pub fn from_json(value: &Value) -> Option<TokenUsage> {
        let input = first_u64(value, &INPUT);
        let output = first_u64(value, &OUTPUT);
        let total = first_u64(value, &TOTAL);
        if input.is_none() && output.is_none() && total.is_none() {
            return None;
        }
        let (input, output) = (input.unwrap_or(0), output.unwrap_or(0));
        Some(TokenUsage {
            model: MODEL
                .iter()
                .find_map(|p| value.pointer(p)?.as_str())
                .unwrap_or_default()
                .to_string(),
            input_tokens: input,
            output_tokens: output,
            total_tokens: total.unwrap_or(input + output),
        })
    }

    /// The usage of a whole JSON body.
    pub fn from_body(body: &[u8]) -> Option<TokenUsage> {
        TokenUsage::from_json(&serde_json::from_slice(body).ok()?)
    }

    /// Sets the `ai_log` attributes Higress's `ai-statistics` writes (`model`,
    /// `input_token`, `output_token`, `total_token`) as user attributes; write them with
    /// [`HttpContext::write_user_attributes_to_ai_log`].
    pub fn set_attributes(&self, ctx: &HttpContext) {
        if !self.model.is_empty() {
            ctx.set_user_attribute("model", self.model.as_str());
        }
        ctx.set_user_attribute("input_token", self.input_tokens);
        ctx.set_user_attribute("output_token", self.output_tokens);
        ctx.set_user_attribute("total_token", self.total_tokens);
    }
}

/// Usage read from an answer as it streams: body chunks go in as they come (Server-Sent
/// Events, or a plain JSON body buffered until its end); the last usage reported wins, as
/// in a streamed chat completion whose final event carries it. The model of an earlier
/// event is kept when the usage event does not name one.
#[derive(Debug, Default)]
pub struct UsageTracker {
    events: SseParser,
    /// A body that is not an event stream, kept until its end.
    plain: Vec<u8>,
    streamed: bool,
    model: String,
    usage: Option<TokenUsage>,
    events_seen: usize,
}

impl UsageTracker {
    /// A tracker for one answer; `streamed` when it is `text/event-stream`.
    pub fn new(streamed: bool) -> UsageTracker {
        UsageTracker {
            streamed,
            ..UsageTracker::default()
        }
    }

    /// Reads a body chunk; `last` at the end of the body.
    pub fn feed(&mut self, chunk: &[u8], last: bool) {
        if !self.streamed {
            self.plain.extend_from_slice(chunk);
            if last {
                let body = std::mem::take(&mut self.plain);
                if let Some(usage) = TokenUsage::from_body(&body) {
                    self.usage = Some(usage);
                }
            }
            return;
        }
        let mut events = self.events.feed(chunk);
        if last {
            events.extend(self.events.finish());
        }
        for event in events {
            self.observe(&event);
        }
    }

    fn observe(&mut self, event: &SseEvent) {
        self.events_seen += 1;
        let Some(json) = event.json() else {
            return;
        };
        if let Some(model) = MODEL.iter().find_map(|p| json.pointer(p)?.as_str()) {
            self.model = model.to_string();
        }
        if let Some(mut usage) = TokenUsage::from_json(&json) {
            if usage.model.is_empty() {
                usage.model = self.model.clone();
            }
            self.usage = Some(usage);
        }
    }

    /// The usage the answer reported so far (the last one), if any.
    pub fn usage(&self) -> Option<&TokenUsage> {
        self.usage.as_ref()
    }

    /// How many events a streamed answer had so far.
    pub fn events_seen(&self) -> usize {
        self.events_seen
    }
}

/// Writes `usage` and what the plugin set besides (`response_type`, …) to the `ai_log`.
pub fn write_ai_log(ctx: &HttpContext, usage: Option<&TokenUsage>) -> Result<()> {
    if let Some(usage) = usage {
        usage.set_attributes(ctx);
    }
    ctx.write_user_attributes_to_ai_log()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_read_from_each_api_shape() {
        let openai: Value = serde_json::json!({"model": "gpt-4o", "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}});
        let anthropic: Value = serde_json::json!({"type": "message_start", "message": {"model": "claude", "usage": {"input_tokens": 3, "output_tokens": 1}}});
        let gemini: Value = serde_json::json!({"modelVersion": "gemini-2", "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 4, "totalTokenCount": 6}});
        let usage = TokenUsage::from_json(&openai).unwrap();
        assert_eq!(
            (
                usage.model.as_str(),
                usage.input_tokens,
                usage.output_tokens,
                usage.total_tokens
            ),
            ("gpt-4o", 7, 5, 12)
        );
        let usage = TokenUsage::from_json(&anthropic).unwrap();
        assert_eq!(
            (usage.model.as_str(), usage.input_tokens, usage.total_tokens),
            ("claude", 3, 4)
        );
        let usage = TokenUsage::from_json(&gemini).unwrap();
        assert_eq!((usage.model.as_str(), usage.total_tokens), ("gemini-2", 6));
        assert_eq!(
            TokenUsage::from_json(&serde_json::json!({"choices": []})),
            None
        );
    }

    #[test]
    fn a_stream_s_last_usage_wins_and_keeps_the_earlier_model() {
        let stream = "data: {\"model\":\"m1\",\"choices\":[{\"delta\":{}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        let mut tracker = UsageTracker::new(true);
        for chunk in stream.as_bytes().chunks(7) {
            tracker.feed(chunk, false);
        }
        tracker.feed(b"", true);
        let usage = tracker.usage().unwrap();
        assert_eq!(
            (usage.model.as_str(), usage.input_tokens, usage.total_tokens),
            ("m1", 9, 11)
        );
        assert_eq!(tracker.events_seen(), 3);
        let mut plain = UsageTracker::new(false);
        plain.feed(b"{\"usage\":{\"total_tokens\":", false);
        assert_eq!(plain.usage(), None);
        plain.feed(b"5}}", true);
        assert_eq!(plain.usage().unwrap().total_tokens, 5);
    }
}
