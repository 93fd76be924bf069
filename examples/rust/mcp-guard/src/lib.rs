//! `mcp-guard`: a filter in front of MCP servers, on wasmgate-sdk's `McpFilter`.
//!
//! Config `{"denyTools": [...], "redactArguments": [...]}` (both optional): tools named in
//! `denyTools` are dropped from `tools/list` answers and their calls are refused with a
//! JSON-RPC error (the server never sees them); arguments named in `redactArguments` are
//! removed from tool calls before they reach the server; `resources/*` and `prompts/*`
//! requests are refused (this server offers tools only).

use serde::Deserialize;
use wasmgate_sdk::mcp::filter::{McpFilter, Verdict};
use wasmgate_sdk::prelude::*;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Guard {
    deny_tools: Vec<String>,
    redact_arguments: Vec<String>,
}

fn guard(ctx: &HttpContext) -> std::rc::Rc<Guard> {
    ctx.config::<Guard>().unwrap_or_default()
}

fn filter() -> McpFilter {
    McpFilter::new()
        .on_request(|_ctx, method, _params| {
            if method.starts_with("resources/") || method.starts_with("prompts/") {
                Verdict::Deny(format!("{method} is not offered here"))
            } else {
                Verdict::Allow
            }
        })
        .on_tool_call(|ctx, tool, arguments| {
            let guard = guard(ctx);
            if guard.deny_tools.iter().any(|t| t == tool) {
                return Verdict::Deny(format!("the tool {tool} is not allowed"));
            }
            if let Some(arguments) = arguments.as_object_mut() {
                for name in &guard.redact_arguments {
                    arguments.remove(name);
                }
            }
            Verdict::Allow
        })
        .on_tool_list(|ctx, tools| {
            let guard = guard(ctx);
            tools.retain(|t| {
                !guard
                    .deny_tools
                    .iter()
                    .any(|d| t["name"].as_str() == Some(d))
            });
        })
}

wasmgate_sdk::entry!({
    filter().plugin::<Guard>("mcp-guard").register();
});
