//! An upstream MCP server behind the gateway's (wasm-go's `mcp-proxy` server type): its
//! tools are listed beside the server's own and their calls are passed to it, over MCP's
//! streamable HTTP transport as a client speaks it (`initialize`, then
//! `notifications/initialized`; the session id and protocol version on every request;
//! JSON or Server-Sent Events answers; a session the upstream forgot, `404`, is started
//! again once). The calls go to the route's upstream as HTTP callouts; a VM keeps one
//! session per upstream URL.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{json, Value};

use super::server::PROTOCOL_VERSIONS;
use crate::ai::SseParser;
use crate::cluster::RouteCluster;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::response::HttpResponse;

thread_local! {
    /// Per upstream URL: its session id (empty when it gave none) and protocol version.
    static SESSIONS: RefCell<HashMap<String, (String, String)>> = RefCell::new(HashMap::new());
}

/// An upstream MCP server at `url` (on the route's upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The streamable HTTP endpoint, e.g. `http://mcp.internal/mcp`.
    pub url: String,
    /// The callouts' time limit.
    pub timeout_ms: u32,
}

impl Upstream {
    /// Its tools (`tools/list`'s `tools`).
    pub async fn tools(&self) -> Result<Vec<Value>> {
        let answer = self.request("tools/list", json!({})).await?;
        match answer.pointer("/result/tools") {
            Some(Value::Array(tools)) => Ok(tools.clone()),
            _ => Err(upstream_error(&answer, "tools/list")),
        }
    }

    /// Calls one of its tools: the JSON-RPC answer as the upstream gave it.
    pub async fn call(&self, name: &str, arguments: Value) -> Result<Value> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// One request in a session (started when there is none, again when it was lost).
    async fn request(&self, method: &str, params: Value) -> Result<Value> {
        for attempt in 0..2 {
            let (session, version) = self.session().await?;
            let message = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
            let answer = self.post(&message, &session, &version).await?;
            if answer.status == 404 && attempt == 0 && !session.is_empty() {
                SESSIONS.with(|s| s.borrow_mut().remove(&self.url));
                continue;
            }
            return read_answer(&answer, method);
        }
        Err(Error::Http(format!(
            "{}: the session was lost twice",
            self.url
        )))
    }

    async fn session(&self) -> Result<(String, String)> {
        if let Some(known) = SESSIONS.with(|s| s.borrow().get(&self.url).cloned()) {
            return Ok(known);
        }
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL_VERSIONS[0],
            "capabilities": {},
            "clientInfo": {"name": "wasmgate-mcp-proxy", "version": env!("CARGO_PKG_VERSION")},
        }});
        let answer = self.post(&initialize, "", "").await?;
        let result = read_answer(&answer, "initialize")?;
        let version = result
            .pointer("/result/protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(PROTOCOL_VERSIONS[0])
            .to_string();
        let session = answer
            .header("mcp-session-id")
            .unwrap_or_default()
            .to_string();
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.post(&initialized, &session, &version).await?;
        let known = (session, version);
        SESSIONS.with(|s| s.borrow_mut().insert(self.url.clone(), known.clone()));
        Ok(known)
    }

    async fn post(&self, message: &Value, session: &str, version: &str) -> Result<HttpResponse> {
        let mut request = HttpClient::new(RouteCluster::default())
            .request("POST", &self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(message.to_string())
            .timeout_ms(self.timeout_ms);
        if !session.is_empty() {
            request = request.header("mcp-session-id", session);
        }
        if !version.is_empty() {
            request = request.header("mcp-protocol-version", version);
        }
        request.await
    }
}

/// The JSON-RPC answer in a response (JSON, or the first answer event of a stream).
fn read_answer(response: &HttpResponse, method: &str) -> Result<Value> {
    if !(200..300).contains(&response.status) {
        return Err(Error::Http(format!(
            "the upstream MCP server answered {method} with {}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        )));
    }
    let event_stream = response
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/event-stream"));
    let answer = if event_stream {
        let mut parser = SseParser::new();
        let mut events = parser.feed(&response.body);
        events.extend(parser.finish());
        events
            .iter()
            .filter_map(|e| e.json())
            .find(|v| v.get("result").is_some() || v.get("error").is_some())
    } else {
        serde_json::from_slice(&response.body).ok()
    };
    answer.ok_or_else(|| {
        Error::Http(format!(
            "the upstream MCP server's answer to {method} has no JSON-RPC answer"
        ))
    })
}

fn upstream_error(answer: &Value, method: &str) -> Error {
    let message = answer
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("no result");
    Error::Http(format!(
        "the upstream MCP server refused {method}: {message}"
    ))
}
