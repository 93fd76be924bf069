//! [`McpFilter`]: a plugin in front of an MCP server (on the gateway or upstream) that reads
//! its JSON-RPC traffic, as wasm-go's `pkg/mcp/filter` does: a filter on every request
//! (method and params), on tool calls (it may change the arguments, or refuse the call) and
//! on tool lists (it may drop or change tools in the answer, JSON or Server-Sent Events).
//! A refused request is answered by the filter with a JSON-RPC error for its id; nothing
//! reaches the server.

use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::jsonrpc::{self, code, Message};
use crate::context::HttpContext;
use crate::error::Result;
use crate::plugin::Plugin;
use crate::{DataAction, HeaderAction};

/// What a filter decides about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It goes on to the server.
    Allow,
    /// It is answered with a JSON-RPC error with this message.
    Deny(String),
}

type RequestFilter = Box<dyn Fn(&HttpContext, &str, &Value) -> Verdict>;
type ToolCallFilter = Box<dyn Fn(&HttpContext, &str, &mut Value) -> Verdict>;
type ToolListFilter = Box<dyn Fn(&HttpContext, &mut Vec<Value>)>;

/// The filters of MCP traffic.
#[derive(Default)]
pub struct McpFilter {
    request: Option<RequestFilter>,
    tool_call: Option<ToolCallFilter>,
    tool_list: Option<ToolListFilter>,
}

/// The id of a `tools/list` request whose answer the tool-list filter reads.
#[derive(Clone)]
struct ListingId(Value);

/// The tool list's answer is an event stream.
#[derive(Clone, Copy)]
struct EventStream(bool);

impl McpFilter {
    /// No filters yet.
    pub fn new() -> McpFilter {
        McpFilter::default()
    }

    /// Sees every request: `f(ctx, method, params)`.
    pub fn on_request(
        mut self,
        f: impl Fn(&HttpContext, &str, &Value) -> Verdict + 'static,
    ) -> McpFilter {
        self.request = Some(Box::new(f));
        self
    }

    /// Sees every `tools/call`: `f(ctx, tool, arguments)`; a change of the arguments goes
    /// to the server.
    pub fn on_tool_call(
        mut self,
        f: impl Fn(&HttpContext, &str, &mut Value) -> Verdict + 'static,
    ) -> McpFilter {
        self.tool_call = Some(Box::new(f));
        self
    }

    /// Sees the tools of every `tools/list` answer (it may drop or change them).
    pub fn on_tool_list(
        mut self,
        f: impl Fn(&HttpContext, &mut Vec<Value>) + 'static,
    ) -> McpFilter {
        self.tool_list = Some(Box::new(f));
        self
    }

    /// The plugin `name` that applies the filters; its config is a `C` (per route or domain
    /// with Higress's rules), which the filters read with `ctx.config::<C>()`.
    pub fn plugin<C: DeserializeOwned + 'static>(self, name: &str) -> Plugin<C> {
        let filter = Rc::new(self);
        let on_response = filter.clone();
        Plugin::<C>::new(name)
            .on_request_headers(|ctx: &HttpContext, _: &C| {
                // POSTs carry messages: the body comes to the filter while the headers wait.
                if ctx.method() == "POST" && ctx.has_request_body() {
                    HeaderAction::StopIteration
                } else {
                    HeaderAction::Continue
                }
            })
            .on_request_body(move |ctx: &HttpContext, _: &C, body: &[u8]| {
                filter.request_body(ctx, body)
            })
            .on_response_headers(|ctx: &HttpContext, _: &C| -> Result<HeaderAction> {
                // Only a tool list's answer is read (it may change length); every other
                // streams through.
                if ctx.get::<ListingId>().is_none() {
                    ctx.dont_read_response_body();
                } else {
                    let event_stream = ctx
                        .response_header("content-type")
                        .is_some_and(|t| t.starts_with("text/event-stream"));
                    ctx.insert(EventStream(event_stream));
                    ctx.remove_response_header("content-length")?;
                }
                Ok(HeaderAction::Continue)
            })
            .on_response_body(move |ctx: &HttpContext, _: &C, body: &[u8]| {
                on_response.response_body(ctx, body)
            })
    }

    fn request_body(&self, ctx: &HttpContext, body: &[u8]) -> Result<DataAction> {
        let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
            return Ok(DataAction::Continue);
        };
        let batch = value.is_array();
        let mut messages: Vec<&mut Value> = match &mut value {
            Value::Array(items) => items.iter_mut().collect(),
            single => vec![single],
        };
        let mut refusals = Vec::new();
        let mut changed = false;
        for message in messages.iter_mut() {
            let Message::Request { id, method, params } = jsonrpc::parse_one(message) else {
                continue;
            };
            if let Verdict::Deny(reason) = self.judge(ctx, &method, params, message, &mut changed) {
                refusals.push(jsonrpc::error(id, code::INVALID_REQUEST, &reason));
            } else if method == "tools/list" {
                ctx.insert(ListingId(id));
            }
        }
        if !refusals.is_empty() {
            let answer = if batch {
                Value::Array(refusals)
            } else {
                refusals.remove(0)
            };
            let headers = [("content-type", "application/json")];
            return ctx.send_response_with_detail(
                200,
                "mcp_filter.denied",
                &headers,
                answer.to_string(),
            );
        }
        if changed {
            ctx.replace_request_body(value.to_string())?;
        }
        Ok(DataAction::Continue)
    }

    /// Runs the filters on one request; a tool call's changed arguments are written back.
    fn judge(
        &self,
        ctx: &HttpContext,
        method: &str,
        params: Value,
        message: &mut Value,
        changed: &mut bool,
    ) -> Verdict {
        if let Some(filter) = &self.request {
            if let Verdict::Deny(reason) = filter(ctx, method, &params) {
                return Verdict::Deny(reason);
            }
        }
        let (Some(filter), "tools/call") = (&self.tool_call, method) else {
            return Verdict::Allow;
        };
        let name = params["name"].as_str().unwrap_or_default().to_string();
        let mut arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
        let before = arguments.clone();
        let verdict = filter(ctx, &name, &mut arguments);
        if verdict == Verdict::Allow && arguments != before {
            message["params"]["arguments"] = arguments;
            *changed = true;
        }
        verdict
    }

    fn response_body(&self, ctx: &HttpContext, body: &[u8]) -> Result<DataAction> {
        let (Some(filter), Some(ListingId(id))) = (&self.tool_list, ctx.get::<ListingId>()) else {
            return Ok(DataAction::Continue);
        };
        let text = String::from_utf8_lossy(body);
        let event_stream = ctx.get::<EventStream>().is_some_and(|e| e.0);
        let rewritten = if event_stream {
            rewrite_events(&text, |answer| list_filtered(ctx, filter, &id, answer))
        } else {
            serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|mut answer| {
                    list_filtered(ctx, filter, &id, &mut answer).then_some(answer)
                })
                .map(|answer| answer.to_string())
        };
        if let Some(rewritten) = rewritten {
            ctx.replace_response_body(rewritten)?;
        }
        Ok(DataAction::Continue)
    }
}

/// Applies the tool-list filter to the answer with `id`; whether it was that answer.
fn list_filtered(
    ctx: &HttpContext,
    filter: &ToolListFilter,
    id: &Value,
    answer: &mut Value,
) -> bool {
    if &answer["id"] != id {
        return false;
    }
    let Some(Value::Array(tools)) = answer.pointer_mut("/result/tools") else {
        return false;
    };
    filter(ctx, tools);
    true
}

/// The event stream with the `data` of its events passed through `f` (JSON answers only);
/// `None` when no event was changed.
fn rewrite_events(text: &str, mut f: impl FnMut(&mut Value) -> bool) -> Option<String> {
    let mut changed = false;
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            let Some(data) = line.strip_prefix("data:") else {
                return line.to_string();
            };
            let Ok(mut answer) = serde_json::from_str::<Value>(data.trim()) else {
                return line.to_string();
            };
            if f(&mut answer) {
                changed = true;
                format!("data: {answer}")
            } else {
                line.to_string()
            }
        })
        .collect();
    changed.then(|| lines.join("\n"))
}
