//! Helpers for AI traffic (LLM APIs in front of which plugins count, log and limit):
//!
//! - [`sse`]: a Server-Sent Events parser fed body chunks as they come; an event split
//!   anywhere across chunks (even inside a `\r\n`) comes out whole, once.
//! - [`usage`]: token usage (OpenAI chat completions and responses, Anthropic, Gemini field
//!   names, as wasm-go's `tokenusage` reads them) from a buffered JSON body or from streamed
//!   events, and its `ai_log` attributes, as Higress's `ai-statistics` writes them.

pub mod sse;
pub mod usage;

pub use sse::{SseEvent, SseParser};
pub use usage::{TokenUsage, UsageTracker};
