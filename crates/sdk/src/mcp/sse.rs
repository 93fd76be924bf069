//! MCP's older HTTP+SSE transport (protocol 2024-11-05), as the Python SDK's `sse_app`
//! serves it: `GET <sse path>` starts a session and opens its event stream, whose first
//! event is `endpoint` with the message URL (`<message path>?sessionId=<id>`, next to the
//! stream's path); the client `POST`s each JSON-RPC message there and gets `202 Accepted`,
//! and every answer comes as an `event: message` on the stream. The session ends when the
//! stream does (the client left); a message naming no session is `400`, an ended or unknown
//! one `404`.

use serde_json::Value;

use super::jsonrpc::{self, code};
use super::server::{McpConfig, McpServer};
use super::{session, stream};
use crate::context::HttpContext;
use crate::error::Result;
use crate::{DataAction, HeaderAction};

/// The protocol version of the older transport.
const VERSION: &str = "2024-11-05";

/// The session a message request is for.
#[derive(Clone)]
struct MessageFor(String);

/// `GET <prefix><sse path>`: a session and its stream, the endpoint first.
pub(crate) fn open(ctx: &HttpContext, config: &McpConfig, prefix: &str) -> Result<HeaderAction> {
    let id = session::start(VERSION);
    let endpoint = format!("{prefix}{}?sessionId={id}", config.message_path());
    let first = format!("event: endpoint\ndata: {endpoint}\n\n");
    stream::open(ctx, &id, true, Some(&first))
}

/// `POST <message path>?sessionId=`: the headers wait for the body unless the session is
/// wrong.
pub(crate) fn message_headers(ctx: &HttpContext) -> Result<HeaderAction> {
    let Some(id) = stream::query_session(&ctx.path()) else {
        return refuse(ctx, 400, "a message needs a sessionId");
    };
    if session::stream_queue(&id).is_none() {
        return refuse(ctx, 404, &format!("no session {id}: open the stream again"));
    }
    if !ctx.has_request_body() {
        return refuse(ctx, 400, "a POST carries a JSON-RPC message");
    }
    ctx.insert(MessageFor(id));
    Ok(HeaderAction::StopIteration)
}

fn refuse<A: crate::context::ReplyAction>(ctx: &HttpContext, status: u32, why: &str) -> Result<A> {
    let answer = jsonrpc::error(Value::Null, code::INVALID_REQUEST, why);
    let headers = [("content-type", "application/json")];
    ctx.send_response_with_detail(status, "mcp.sse_message", &headers, answer.to_string())
}

/// The message body: `202 Accepted` once its answers are on the session's stream.
pub(crate) fn message_body(
    server: &McpServer,
    ctx: &HttpContext,
    config: &McpConfig,
    body: &[u8],
) -> Result<DataAction> {
    let Some(MessageFor(id)) = ctx.get::<MessageFor>() else {
        return Ok(DataAction::Continue);
    };
    let parsed = match jsonrpc::parse(body) {
        Ok(parsed) => parsed,
        Err(answer) => {
            let headers = [("content-type", "application/json")];
            return ctx.send_response_with_detail(
                400,
                "mcp.parse_error",
                &headers,
                answer.to_string(),
            );
        }
    };
    match server.answer_all(ctx, config, parsed.messages).ready() {
        Ok(answers) => accept(ctx, &id, &answers),
        Err(later) => {
            ctx.spawn(move |ctx| async move {
                let answers = later.all().await;
                accept::<()>(&ctx, &id, &answers)
            });
            Ok(DataAction::StopIterationAndBuffer)
        }
    }
}

/// Sends the answers on the session's stream and accepts the message.
fn accept<A: crate::context::ReplyAction>(
    ctx: &HttpContext,
    id: &str,
    answers: &[Value],
) -> Result<A> {
    for answer in answers {
        if !stream::send(id, &stream::message_event(answer)) {
            return refuse(ctx, 404, &format!("the stream of session {id} closed"));
        }
    }
    ctx.send_response_with_detail(202, "mcp.accepted", &[], "Accepted")
}
