//! `mcp-calculator`: an MCP server in Rust on wasmgate-sdk's `mcp` module.
//!
//! Tools (their input schemas come from the argument types):
//! - `add {a, b}`: the sum of two integers, as text.
//! - `divide {dividend, divisor}`: the quotient as JSON (`structuredContent`
//!   `{"quotient": …}`); a zero divisor is an error result the model can read.
//! - `weather {city}` (async): asks `GET /weather?city=<city>` of the cluster
//!   `outbound|80||weather.static` and answers with its body; a failed call or a non-200
//!   answer is an error result. It logs the question to the client first (an MCP
//!   `notifications/message` on the session's server stream, when the client keeps one).
//!
//! Config: `{}`, or `{"allowTools": [...]}` to offer only some tools (per route with rules).
//! Clients use MCP's streamable HTTP transport on the routes the plugin is configured for,
//! or the older HTTP+SSE transport (`GET …/sse`, then `POST …/messages/?sessionId=`).

use serde::{Deserialize, Serialize};
use wasmgate_sdk::mcp::{notify, McpServer, Tool, ToolResult};
use wasmgate_sdk::prelude::*;

#[derive(Deserialize, schemars::JsonSchema)]
struct Add {
    /// The first addend.
    a: i64,
    /// The second addend.
    b: i64,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Divide {
    /// The number to divide.
    dividend: f64,
    /// The number to divide by (not zero).
    divisor: f64,
}

#[derive(Serialize)]
struct Quotient {
    quotient: f64,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Weather {
    /// The city, in letters.
    city: String,
}

fn divide(_ctx: &HttpContext, args: Divide) -> Result<ToolResult> {
    if args.divisor == 0.0 {
        return Ok(ToolResult::error("cannot divide by zero"));
    }
    ToolResult::json(&Quotient {
        quotient: args.dividend / args.divisor,
    })
}

async fn weather(ctx: HttpContext, args: Weather) -> Result<ToolResult> {
    if !args.city.chars().all(|c| c.is_ascii_alphabetic()) {
        return Ok(ToolResult::error("a city is letters only"));
    }
    let log = json!({"level": "info", "logger": "weather", "data": format!("asking about {}", args.city)});
    notify(&ctx, "notifications/message", log);
    let client = HttpClient::new(FqdnCluster::new("weather.static", 80));
    let answer = client
        .request("GET", &format!("/weather?city={}", args.city))
        .timeout_ms(2000)
        .await?;
    if answer.status != 200 {
        return Ok(ToolResult::error(format!(
            "the weather service answered {}",
            answer.status
        )));
    }
    Ok(ToolResult::text(String::from_utf8_lossy(&answer.body)))
}

fn server() -> McpServer {
    McpServer::new("calculator", "1.0.0")
        .instructions("Arithmetic, and the weather of a city.")
        .tool(Tool::new("add", "Adds two integers.", |_ctx, args: Add| {
            ToolResult::text((args.a + args.b).to_string())
        }))
        .tool(Tool::new("divide", "Divides two numbers.", divide))
        .tool(Tool::new_async(
            "weather",
            "The weather of a city, from the weather service.",
            weather,
        ))
}

wasmgate_sdk::entry!({
    server().plugin("mcp-calculator").register();
});
