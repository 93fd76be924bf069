//! MCP's streamable HTTP transport on the plugin's phases, and the [`Plugin`] that serves an
//! [`McpServer`] on the routes it is configured for:
//!
//! - `POST` with a JSON-RPC body (one message or a batch): requests are answered with
//!   `200` and their answers, as `application/json`, or as one Server-Sent Event when the
//!   client accepts only `text/event-stream`; a body of notifications and client answers
//!   only gets `202 Accepted`. A body that is not JSON gets `400` with a parse error.
//! - `initialize` starts a session (`Mcp-Session-Id` on its answer); later requests naming
//!   an unknown or ended session get `404`; `DELETE` with the id ends it (`200`).
//! - `GET` (the server-to-client stream) is `405`: the server sends nothing unasked.
//! - an `MCP-Protocol-Version` header the server does not speak is `400`.
//!
//! Every answer is the plugin's own (a local reply): nothing goes upstream. A tool that
//! answers later holds the request until it does.

use std::rc::Rc;

use serde_json::Value;

use super::jsonrpc::{self, code, Message};
use super::server::{AnswerFuture, Answered, McpConfig, McpServer, PROTOCOL_VERSIONS};
use super::session;
use crate::context::{HttpContext, ReplyAction};
use crate::error::Result;
use crate::plugin::Plugin;
use crate::{DataAction, HeaderAction};

/// How the client wants answers: `text/event-stream` only (else JSON).
#[derive(Clone, Copy)]
struct EventStreamOnly(bool);

impl McpServer {
    /// The plugin `name` that serves this server (config: [`McpConfig`]). Register it from
    /// the module's entry: `wasmgate_sdk::entry!({ my_server().plugin("name").register(); });`.
    pub fn plugin(self, name: &str) -> Plugin<McpConfig> {
        let server = Rc::new(self);
        Plugin::<McpConfig>::new(name)
            .on_request_headers(|ctx: &HttpContext, _: &McpConfig| request_headers(ctx))
            .on_request_body(move |ctx: &HttpContext, config: &McpConfig, body: &[u8]| {
                request_body(&server, ctx, config, body)
            })
    }
}

fn request_headers(ctx: &HttpContext) -> Result<HeaderAction> {
    let allow = [("allow", "POST, DELETE")];
    match ctx.method().as_str() {
        "POST" => {}
        "DELETE" => return delete(ctx),
        _ => return ctx.send_response_with_detail(405, "mcp.method_not_allowed", &allow, ""),
    }
    if let Some(version) = ctx.request_header("mcp-protocol-version") {
        if !PROTOCOL_VERSIONS.contains(&version.as_str()) {
            let message = format!("unsupported MCP-Protocol-Version {version}");
            return reply(
                ctx,
                400,
                &jsonrpc::error(Value::Null, code::INVALID_REQUEST, &message),
                None,
            );
        }
    }
    if let Some(id) = ctx.request_header(session::HEADER) {
        if !session::is_live(&id) {
            let message = format!("no session {id}: initialize again");
            return reply(
                ctx,
                404,
                &jsonrpc::error(Value::Null, code::INVALID_REQUEST, &message),
                None,
            );
        }
    }
    if !ctx.has_request_body() {
        let message = "a POST carries a JSON-RPC message";
        return reply(
            ctx,
            400,
            &jsonrpc::error(Value::Null, code::INVALID_REQUEST, message),
            None,
        );
    }
    let accept = ctx.request_header("accept").unwrap_or_default();
    let event_stream_only =
        accept.contains("text/event-stream") && !accept.contains("application/json");
    ctx.insert(EventStreamOnly(event_stream_only));
    // The headers wait while the body comes to the plugin (Higress's StopIteration).
    Ok(HeaderAction::StopIteration)
}

fn delete(ctx: &HttpContext) -> Result<HeaderAction> {
    match ctx.request_header(session::HEADER) {
        Some(id) if session::end(&id) => {
            ctx.send_response_with_detail(200, "mcp.session_ended", &[], "")
        }
        Some(_) => ctx.send_response_with_detail(404, "mcp.no_session", &[], ""),
        None => ctx.send_response_with_detail(
            400,
            "mcp.no_session",
            &[],
            "DELETE needs an Mcp-Session-Id",
        ),
    }
}

/// An answer still to come, and its place among the answers.
type Pending = (usize, AnswerFuture);

fn request_body(
    server: &McpServer,
    ctx: &HttpContext,
    config: &McpConfig,
    body: &[u8],
) -> Result<DataAction> {
    let parsed = match jsonrpc::parse(body) {
        Ok(parsed) => parsed,
        Err(answer) => return reply(ctx, 400, &answer, None),
    };
    let mut answers: Vec<Option<Value>> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut started = None;
    for message in parsed.messages {
        match message {
            Message::Request { id, method, params } => {
                if method == "initialize" {
                    let version = McpServer::negotiate(params["protocolVersion"].as_str());
                    started = Some(session::start(version));
                }
                match server.answer(ctx, config, id, &method, &params) {
                    Answered::Now(answer) => answers.push(Some(answer)),
                    Answered::Later(future) => {
                        pending.push((answers.len(), future));
                        answers.push(None);
                    }
                }
            }
            Message::Invalid { id, reason } => {
                answers.push(Some(jsonrpc::error(id, code::INVALID_REQUEST, &reason)))
            }
            Message::Notification { .. } | Message::Answer => {}
        }
    }
    if answers.is_empty() {
        return ctx.send_response_with_detail(202, "mcp.accepted", &[], "");
    }
    let batch = parsed.batch;
    if pending.is_empty() {
        return reply(ctx, 200, &assemble(answers, batch), started.as_deref());
    }
    ctx.spawn(move |ctx| async move {
        for (slot, future) in pending {
            answers[slot] = Some(future.await);
        }
        reply::<()>(&ctx, 200, &assemble(answers, batch), started.as_deref())
    });
    Ok(DataAction::StopIterationAndBuffer)
}

fn assemble(answers: Vec<Option<Value>>, batch: bool) -> Value {
    let mut answers: Vec<Value> = answers.into_iter().flatten().collect();
    if batch || answers.len() != 1 {
        Value::Array(answers)
    } else {
        answers.remove(0)
    }
}

/// Answers with a JSON-RPC value, as JSON or as one event for a client that takes only
/// event streams.
fn reply<A: ReplyAction>(
    ctx: &HttpContext,
    status: u32,
    answer: &Value,
    session: Option<&str>,
) -> Result<A> {
    let event_stream = ctx.get::<EventStreamOnly>().is_some_and(|e| e.0);
    let (content_type, body) = if event_stream {
        (
            "text/event-stream",
            format!("event: message\ndata: {answer}\n\n"),
        )
    } else {
        ("application/json", answer.to_string())
    };
    let mut headers = vec![("content-type", content_type)];
    if let Some(id) = session {
        headers.push((session::HEADER, id));
    }
    ctx.send_response_with_detail(status, "mcp.answer", &headers, body)
}
