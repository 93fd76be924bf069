//! [`McpServer`]: a server's name, version and tools, and the answers to MCP's methods:
//! `initialize` (protocol version negotiation), `ping`, `tools/list` and `tools/call`.
//! The plugin's configuration ([`McpConfig`], per route or domain with Higress's rules)
//! adds REST APIs as tools and narrows which tools a route offers.

use serde::Deserialize;
use serde_json::{json, Value};

use super::jsonrpc::{self, code};
use super::rest::RestTool;
use super::tool::{Tool, ToolCall, ToolFuture, ToolResult};
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
}

/// The `server` part of the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServerSection {
    /// The server's name in Higress's configuration (informative here: the code names it).
    #[serde(default)]
    pub name: Option<String>,
    /// The REST tools' `.config`.
    #[serde(default)]
    pub config: Value,
}

impl McpConfig {
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

/// What a request's answer is.
pub enum Answered {
    /// The JSON-RPC answer.
    Now(Value),
    /// A tool answers later; then the answer is made of its result.
    Later {
        /// The request's id.
        id: Value,
        /// The tool's answer to come.
        future: ToolFuture,
    },
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
            "tools/list" => self.list(config),
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
        let call = match (own, rest) {
            _ if !config.allows(name) => None,
            (Some(tool), _) => Some(tool.call(ctx, arguments)),
            (None, Some(tool)) => Some(tool.call(ctx, &config.server.config, arguments)),
            (None, None) => None,
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
            ToolCall::Later(future) => Answered::Later { id, future },
        }
    }
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
