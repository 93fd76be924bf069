//! MCP's streamable HTTP transport on the plugin's phases, and the [`Plugin`] that serves an
//! [`McpServer`] on the routes it is configured for:
//!
//! - `POST` with a JSON-RPC body (one message or a batch): requests are answered with
//!   `200` and their answers, as `application/json`, or as one Server-Sent Event when the
//!   client accepts only `text/event-stream`; a body of notifications and client answers
//!   only gets `202 Accepted`. A body that is not JSON gets `400` with a parse error.
//! - `initialize` starts a session (`Mcp-Session-Id` on its answer); later requests naming
//!   an unknown or ended session get `404`; `DELETE` with the id ends it (`200`).
//! - `GET` with a live `Mcp-Session-Id` opens the session's server stream (an open
//!   response, `text/event-stream`): the notifications the server sends the session
//!   ([`notify`](super::stream::notify)) come there, and keep-alive comments; without a
//!   session it is `400`, with an unknown one `404`.
//! - an `MCP-Protocol-Version` header the server does not speak is `400`.
//! - the older HTTP+SSE transport on the paths [`McpConfig`] names (`sse`).
//!
//! Every answer is the plugin's own (a local reply): nothing goes upstream. A tool that
//! answers later holds the request until it does.

use std::rc::Rc;

use serde_json::Value;

use super::jsonrpc::{self, code, Message};
use super::server::{McpConfig, McpServer, PROTOCOL_VERSIONS};
use super::{session, sse, stream};
use crate::context::{HttpContext, ReplyAction};
use crate::error::Result;
use crate::plugin::Plugin;
use crate::tick::Tick;
use crate::{DataAction, HeaderAction};

/// The request is a message of the older transport (its body goes to `sse`).
#[derive(Clone, Copy)]
struct SseMessage;

/// How the client wants answers: `text/event-stream` only (else JSON).
#[derive(Clone, Copy)]
struct EventStreamOnly(bool);

impl McpServer {
    /// The plugin `name` that serves this server (config: [`McpConfig`]). Register it from
    /// the module's entry: `wasmgate_sdk::entry!({ my_server().plugin("name").register(); });`.
    pub fn plugin(self, name: &str) -> Plugin<McpConfig> {
        let server = Rc::new(self);
        Plugin::<McpConfig>::new(name)
            .on_plugin_start(|plugin| {
                let tick = Tick::every_ms(stream::KEEP_ALIVE_MS).named("wasmgate_mcp_keep_alive");
                plugin.register_tick(tick, stream::keep_alive);
            })
            .on_request_headers(request_headers)
            .on_request_body(move |ctx: &HttpContext, config: &McpConfig, body: &[u8]| {
                if ctx.get::<SseMessage>().is_some() {
                    sse::message_body(&server, ctx, config, body)
                } else {
                    request_body(&server, ctx, config, body)
                }
            })
            .on_stream_done(|ctx: &HttpContext, _: &McpConfig| stream::done(ctx))
    }
}

fn request_headers(ctx: &HttpContext, config: &McpConfig) -> Result<HeaderAction> {
    let full_path = ctx.path();
    let path = full_path.split('?').next().unwrap_or_default();
    let method = ctx.method();
    if let (Some(prefix), "GET") = (path.strip_suffix(config.sse_path()), method.as_str()) {
        return sse::open(ctx, config, prefix);
    }
    if path.ends_with(config.message_path()) && method == "POST" {
        ctx.insert(SseMessage);
        return sse::message_headers(ctx);
    }
    let allow = [("allow", "GET, POST, DELETE")];
    match method.as_str() {
        "POST" => {}
        "GET" => return server_stream(ctx),
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

/// `GET`: the session's server stream.
fn server_stream(ctx: &HttpContext) -> Result<HeaderAction> {
    match ctx.request_header(session::HEADER) {
        Some(id) if session::is_live(&id) => stream::open(ctx, &id, false, None),
        Some(id) => ctx.send_response_with_detail(
            404,
            "mcp.no_session",
            &[],
            format!("no session {id}: initialize again"),
        ),
        None => ctx.send_response_with_detail(
            400,
            "mcp.no_session",
            &[],
            "a GET stream needs an Mcp-Session-Id",
        ),
    }
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
    let started = parsed.messages.iter().find_map(|message| match message {
        Message::Request { method, params, .. } if method == "initialize" => {
            let version = McpServer::negotiate(params["protocolVersion"].as_str());
            Some(session::start(version))
        }
        _ => None,
    });
    let answers = server.answer_all(ctx, config, parsed.messages);
    if answers.is_empty() {
        return ctx.send_response_with_detail(202, "mcp.accepted", &[], "");
    }
    let batch = parsed.batch;
    match answers.ready() {
        Ok(answers) => reply(ctx, 200, &assemble(answers, batch), started.as_deref()),
        Err(later) => {
            ctx.spawn(move |ctx| async move {
                let answers = later.all().await;
                reply::<()>(&ctx, 200, &assemble(answers, batch), started.as_deref())
            });
            Ok(DataAction::StopIterationAndBuffer)
        }
    }
}

fn assemble(mut answers: Vec<Value>, batch: bool) -> Value {
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
