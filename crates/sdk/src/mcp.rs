//! MCP servers on the gateway (feature `mcp`): tools written in Rust with typed arguments
//! whose JSON Schema comes from their types, served over MCP's streamable HTTP transport.
//!
//! ```ignore
//! use wasmgate_sdk::mcp::{McpServer, Tool, ToolResult};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Add { /// The first addend.
//!     a: i64, /// The second addend.
//!     b: i64 }
//!
//! fn server() -> McpServer {
//!     McpServer::new("calculator", "1.0.0")
//!         .tool(Tool::new("add", "Adds two integers", |_ctx, args: Add| {
//!             ToolResult::text((args.a + args.b).to_string())
//!         }))
//! }
//!
//! wasmgate_sdk::entry!({ server().plugin("calculator").register(); });
//! ```
//!
//! - [`jsonrpc`]: JSON-RPC 2.0 messages and answers.
//! - [`filter`]: [`McpFilter`](filter::McpFilter), a plugin in front of an MCP server that
//!   filters its requests, tool calls and tool lists.
//! - [`tool`]: [`Tool`]s (typed, `async`, or with a schema of their own) and
//!   [`ToolResult`]s.
//! - [`server`]: [`McpServer`] and its methods (`initialize` with version negotiation,
//!   `ping`, `tools/list`, `tools/call`); [`McpConfig`] adds REST tools and narrows the
//!   tools per route.
//! - [`upstream`]: an upstream MCP server whose tools are offered too (`mcp-proxy`).
//! - [`rest`]: REST APIs as tools from configuration (wasm-go's REST-to-MCP format), with
//!   [`template`]s in the subset of Go's `text/template` Higress's configurations use.
//! - `session`: `Mcp-Session-Id` sessions in shared data.
//! - [`stream`]: the sessions' server-to-client event streams (open responses fed through
//!   a shared queue from any VM); [`notify`] sends a session a notification.
//! - `sse`: the older HTTP+SSE transport (`GET /sse`, `POST /messages/?sessionId=`).
//! - `transport`: the streamable HTTP transport on the plugin's phases
//!   ([`McpServer::plugin`]), and the routing to `sse`.

pub mod filter;
pub mod jsonrpc;
pub mod rest;
pub mod server;
mod session;
mod sse;
pub mod stream;
pub mod template;
pub mod tool;
mod transport;
pub mod upstream;

pub use schemars;
pub use server::{McpConfig, McpServer, PROTOCOL_VERSIONS};
pub use stream::notify;
pub use tool::{schema_of, Tool, ToolCall, ToolFuture, ToolResult};
