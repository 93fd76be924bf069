//! [`McpServer`]: a server's name, version and tools, and the answers to MCP's methods:
//! `initialize` (protocol version negotiation), `ping`, `tools/list` and `tools/call`.
//! The plugin's configuration ([`McpConfig`], per route or domain with Higress's rules)
//! adds REST APIs as tools and narrows which tools a route offers.

use std::future::Future;
use std::pin::Pin;

use serde::Deserialize;
use serde_json::{json, Value};

use super::jsonrpc::{self, code, Message};
use super::rest::RestTool;
use super::tool::{Tool, ToolCall, ToolResult};
use super::upstream::Upstream;
use crate::context::HttpContext;

/// The protocol versions the server speaks, newest first.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The plugin's configuration (global, or per route/domain in Higress's `_rules_`), in the
/// shape of a Higress `mcp-server` configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpConfig {
    /// The tools offered (all when absent), as wasm-go's `allowTools`.
    #[serde(default)]
    pub allow_tools: Option<Vec<String>>,
    /// REST APIs as tools, besides the server's own (wasm-go's REST-to-MCP `tools`).
    #[serde(default)]
    pub tools: Vec<RestTool>,
    /// `server.config`: what the REST tools' templates read as `.config` (API keys, …).
    #[serde(default)]
    pub server: ServerSection,
    /// The older HTTP+SSE transport's stream path: a `GET` of a path that ends with it opens
    /// a session's event stream (default `/sse`, as the Python SDK's `sse_app`).
    #[serde(default)]
    pub sse_path: Option<String>,
    /// The older transport's message path, next to the stream's (default `/messages/`): the
    /// client `POST`s each message to it with `?sessionId=`.
    #[serde(default)]
    pub message_path: Option<String>,
}

/// The `server` part of the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerSection {
    /// The server's name in Higress's configuration (informative here: the code names it).
    #[serde(default)]
    pub name: Option<String>,
    /// The REST tools' `.config`.
    #[serde(default)]
    pub config: Value,
    /// `mcp-proxy`: the tools of the MCP server at `mcpServerURL` (on the route's upstream)
    /// are offered too (wasm-go's `mcp-proxy` server type).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The upstream MCP server's streamable HTTP endpoint.
    #[serde(default, rename = "mcpServerURL")]
    pub mcp_server_url: Option<String>,
    /// The upstream calls' time limit in milliseconds (default 5000).
    #[serde(default)]
    pub timeout: Option<u32>,
}

impl ServerSection {
    fn upstream(&self) -> Option<Upstream> {
        let url = self.mcp_server_url.clone()?;
        (self.kind.as_deref().unwrap_or("mcp-proxy") == "mcp-proxy").then(|| Upstream {
            url,
            timeout_ms: self.timeout.unwrap_or(5000),
        })
    }
}

/// A JSON-RPC answer to come.
pub type AnswerFuture = Pin<Box<dyn Future<Output = Value>>>;

impl McpConfig {
    /// The older transport's stream path.
    pub fn sse_path(&self) -> &str {
        self.sse_path.as_deref().unwrap_or("/sse")
    }

    /// The older transport's message path.
    pub fn message_path(&self) -> &str {
        self.message_path.as_deref().unwrap_or("/messages/")
    }

    fn allows(&self, tool: &str) -> bool {
        self.allow_tools
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|t| t == tool))
    }
}

/// An MCP server: its identity and its tools.
pub struct McpServer {
    name: String,
    version: String,
    instructions: Option<String>,
    tools: Vec<Tool>,
}

/// The answers to one body's messages, in their order: the ones known now, and the ones
/// still to come with their places.
pub struct Answers {
    known: Vec<Option<Value>>,
    later: Vec<(usize, AnswerFuture)>,
}

impl Answers {
    /// Whether no message asked for an answer (notifications and client answers only).
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The answers, if all are known now (else the answers back).
    pub fn ready(self) -> std::result::Result<Vec<Value>, Answers> {
        if self.later.is_empty() {
            Ok(self.known.into_iter().flatten().collect())
        } else {
            Err(self)
        }
    }

    /// Every answer, once the last one came.
    pub async fn all(mut self) -> Vec<Value> {
        for (slot, future) in std::mem::take(&mut self.later) {
            self.known[slot] = Some(future.await);
        }
        self.known.into_iter().flatten().collect()
    }
}

/// What a request's answer is.
pub enum Answered {
    /// The JSON-RPC answer.
    Now(Value),
    /// The answer comes later (a tool that awaits, an upstream server's list or call).
    Later(AnswerFuture),
}

impl McpServer {
    /// A server called `name` at `version` (its `serverInfo`).
    pub fn new(name: &str, version: &str) -> McpServer {
        McpServer {
            name: name.to_string(),
            version: version.to_string(),
            instructions: None,
            tools: Vec::new(),
        }
    }

    /// What the server tells clients about how to use it (`instructions`).
    pub fn instructions(mut self, text: &str) -> McpServer {
        self.instructions = Some(text.to_string());
        self
    }

    /// Adds a tool.
    pub fn tool(mut self, tool: Tool) -> McpServer {
        self.tools.push(tool);
        self
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Answers one request.
    pub fn answer(
        &self,
        ctx: &HttpContext,
        config: &McpConfig,
        id: Value,
        method: &str,
        params: &Value,
    ) -> Answered {
        let result = match method {
            "initialize" => self.initialize(params),
            "ping" => json!({}),
            "tools/list" => match config.server.upstream() {
                Some(upstream) => {
                    return Answered::Later(upstream_list(
                        self.list(config),
                        config.clone(),
                        upstream,
                        id,
                    ))
                }
                None => self.list(config),
            },
            "tools/call" => return self.call(ctx, config, id, params),
            other => {
                return Answered::Now(jsonrpc::error(
                    id,
                    code::METHOD_NOT_FOUND,
                    &format!("method not found: {other}"),
                ))
            }
        };
        Answered::Now(jsonrpc::result(id, result))
    }

    /// Answers the requests among `messages` (invalid ones with an error).
    pub fn answer_all(
        &self,
        ctx: &HttpContext,
        config: &McpConfig,
        messages: Vec<Message>,
    ) -> Answers {
        let mut answers = Answers {
            known: Vec::new(),
            later: Vec::new(),
        };
        for message in messages {
            match message {
                Message::Request { id, method, params } => {
                    match self.answer(ctx, config, id, &method, &params) {
                        Answered::Now(answer) => answers.known.push(Some(answer)),
                        Answered::Later(future) => {
                            answers.later.push((answers.known.len(), future));
                            answers.known.push(None);
                        }
                    }
                }
                Message::Invalid { id, reason } => {
                    let answer = jsonrpc::error(id, code::INVALID_REQUEST, &reason);
                    answers.known.push(Some(answer));
                }
                Message::Notification { .. } | Message::Answer => {}
            }
        }
        answers
    }

    /// The version the server answers `initialize` with: the client's when the server
    /// speaks it, else the newest it speaks (the client then decides).
    pub fn negotiate(requested: Option<&str>) -> &'static str {
        requested
            .and_then(|r| PROTOCOL_VERSIONS.iter().find(|v| **v == r))
            .copied()
            .unwrap_or(PROTOCOL_VERSIONS[0])
    }

    fn initialize(&self, params: &Value) -> Value {
        let version = McpServer::negotiate(params["protocolVersion"].as_str());
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": self.name, "version": self.version},
        });
        if let Some(instructions) = &self.instructions {
            result["instructions"] = json!(instructions);
        }
        result
    }

    fn list(&self, config: &McpConfig) -> Value {
        let own = self.tools.iter().map(|t| (&t.name, t.to_json()));
        let rest = config.tools.iter().map(|t| (&t.name, t.to_json()));
        let tools: Vec<Value> = own
            .chain(rest)
            .filter(|(name, _)| config.allows(name))
            .map(|(_, json)| json)
            .collect();
        json!({ "tools": tools })
    }

    fn call(&self, ctx: &HttpContext, config: &McpConfig, id: Value, params: &Value) -> Answered {
        let name = params["name"].as_str().unwrap_or_default();
        let arguments = match &params["arguments"] {
            Value::Null => json!({}),
            other => other.clone(),
        };
        let own = self.tools.iter().find(|t| t.name == name);
        let rest = config.tools.iter().find(|t| t.name == name);
        let call = match (own, rest, config.server.upstream()) {
            _ if !config.allows(name) => None,
            (Some(tool), _, _) => Some(tool.call(ctx, arguments)),
            (None, Some(tool), _) => Some(tool.call(ctx, &config.server.config, arguments)),
            (None, None, Some(upstream)) => {
                return Answered::Later(upstream_call(upstream, name.to_string(), arguments, id))
            }
            (None, None, None) => None,
        };
        let Some(call) = call else {
            return Answered::Now(jsonrpc::error(
                id,
                code::INVALID_PARAMS,
                &format!("unknown tool: {name}"),
            ));
        };
        match call {
            ToolCall::Done(result) => Answered::Now(tool_answer(id, result)),
            ToolCall::Later(future) => {
                Answered::Later(Box::pin(async move { tool_answer(id, future.await) }))
            }
        }
    }
}

/// The `tools/list` answer: the server's own tools and those of the upstream MCP server
/// (the own ones win a name both have). An upstream that cannot be reached leaves its
/// tools out, with a warning.
fn upstream_list(own: Value, config: McpConfig, upstream: Upstream, id: Value) -> AnswerFuture {
    Box::pin(async move {
        let mut tools = own["tools"].as_array().cloned().unwrap_or_default();
        match upstream.tools().await {
            Ok(theirs) => {
                for tool in theirs {
                    let name = tool["name"].as_str().unwrap_or_default();
                    if config.allows(name) && !tools.iter().any(|t| t["name"] == name) {
                        tools.push(tool);
                    }
                }
            }
            Err(e) => crate::warn!("the tools of {} are left out: {e}", upstream.url),
        }
        jsonrpc::result(id, json!({ "tools": tools }))
    })
}

/// A call of an upstream server's tool: its answer, under the client's id.
fn upstream_call(upstream: Upstream, name: String, arguments: Value, id: Value) -> AnswerFuture {
    Box::pin(async move {
        match upstream.call(&name, arguments).await {
            Ok(mut answer) => {
                answer["id"] = id;
                answer
            }
            Err(e) => tool_answer(id, Err(e)),
        }
    })
}

/// The `tools/call` answer for a tool's outcome: a failed tool is an error result.
pub fn tool_answer(id: Value, result: crate::error::Result<ToolResult>) -> Value {
    let result = result.unwrap_or_else(|e| ToolResult::error(e.to_string()));
    jsonrpc::result(id, result.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_s_version_is_taken_when_spoken() {
        assert_eq!(McpServer::negotiate(Some("2025-03-26")), "2025-03-26");
        assert_eq!(
            McpServer::negotiate(Some("2099-01-01")),
            PROTOCOL_VERSIONS[0]
        );
        assert_eq!(McpServer::negotiate(None), PROTOCOL_VERSIONS[0]);
    }

    #[test]
    fn allow_tools_narrows_the_list() {
        let config: McpConfig = serde_json::from_value(json!({"allowTools": ["a"]})).unwrap();
        assert!(config.allows("a"));
        assert!(!config.allows("b"));
        assert!(McpConfig::default().allows("b"));
    }
}
