//! The server-to-client streams of MCP sessions: a `GET` that stays open as an event stream
//! (the session's stream in streamable HTTP, the whole of the older HTTP+SSE transport's
//! answers), on the SDK's open responses. The VM that holds a stream owns a shared queue;
//! the session records its name, so a request on any VM (any worker) sends an event to the
//! session by enqueueing it there, and the owner writes it to the stream when the queue is
//! ready. Idle streams get a keep-alive comment every [`KEEP_ALIVE_MS`].

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{json, Value};

use super::session;
use crate::context::HttpContext;
use crate::error::Result;
use crate::{raw, HeaderAction};

/// How often an open stream gets a keep-alive comment (`: keep-alive`), as the Python SDK's
/// server pings.
pub const KEEP_ALIVE_MS: u64 = 15_000;

/// This request is the server stream of a session.
#[derive(Clone)]
struct ServerStream {
    session: String,
    /// The session ends with the stream (the older transport).
    ends_session: bool,
}

thread_local! {
    /// The streams this VM holds, by session.
    static STREAMS: RefCell<HashMap<String, HttpContext>> = RefCell::new(HashMap::new());
    /// This VM's queue, once registered: its id and name.
    static QUEUE: RefCell<Option<(u32, String)>> = const { RefCell::new(None) };
}

/// This VM's queue's name (registered on first use).
fn queue() -> Result<String> {
    if let Some((_, name)) = QUEUE.with(|q| q.borrow().clone()) {
        return Ok(name);
    }
    let plugin = session::plugin_property("plugin_name");
    let name = format!("wasmgate_mcp_streams:{plugin}:{}", crate::leader::vm_id());
    let id = raw::register_shared_queue(&name)?;
    crate::tick::on_queue(id, deliver);
    QUEUE.with(|q| *q.borrow_mut() = Some((id, name.clone())));
    Ok(name)
}

/// Answers `ctx` with session `session`'s server stream (`text/event-stream`), `first`
/// written at once. `ends_session`: the session ends when the stream does.
pub(crate) fn open(
    ctx: &HttpContext,
    session: &str,
    ends_session: bool,
    first: Option<&str>,
) -> Result<HeaderAction> {
    let queue = queue()?;
    let headers = [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
    ];
    let action = ctx.open_response(200, &headers)?;
    if let Some(first) = first {
        ctx.write_response(first)?;
    }
    session::attach_stream(session, &queue);
    ctx.insert(ServerStream {
        session: session.to_string(),
        ends_session,
    });
    let earlier = STREAMS.with(|s| s.borrow_mut().insert(session.to_string(), ctx.clone()));
    drop(earlier);
    Ok(action)
}

/// One Server-Sent Event carrying a JSON-RPC message.
pub(crate) fn message_event(message: &Value) -> String {
    format!("event: message\ndata: {message}\n\n")
}

/// Sends `event` (whole Server-Sent Events) on session `session`'s stream, on whichever VM
/// holds it; false when no stream of the session is open.
pub(crate) fn send(session: &str, event: &str) -> bool {
    let Some(queue) = session::stream_queue(session) else {
        return false;
    };
    let vm_id = session::plugin_property("plugin_vm_id");
    let Ok(id) = raw::resolve_shared_queue(&vm_id, &queue) else {
        return false;
    };
    raw::enqueue_shared_queue(id, format!("{session}\n{event}").as_bytes()).is_ok()
}

/// Sends a JSON-RPC notification to the client of `ctx`'s session, on the session's server
/// stream (a `GET` the client keeps open, or the older transport's stream); false when the
/// request names no session or its stream is not open. A tool reports progress or logs
/// this way: `notify(ctx, "notifications/message", json!({"level": "info", "data": "…"}))`.
pub fn notify(ctx: &HttpContext, method: &str, params: Value) -> bool {
    let Some(session) = session_of(ctx) else {
        return false;
    };
    let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
    send(&session, &message_event(&message))
}

/// The session a request names: its `Mcp-Session-Id`, or the older transport's
/// `sessionId` query parameter.
pub(crate) fn session_of(ctx: &HttpContext) -> Option<String> {
    ctx.request_header(session::HEADER)
        .or_else(|| query_session(&ctx.path()))
}

/// The `sessionId` (or the Python SDK's `session_id`) query parameter of `path`.
pub(crate) fn query_session(path: &str) -> Option<String> {
    let (_, query) = path.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "sessionId" || name == "session_id").then(|| value.to_string())
    })
}

/// The queue is ready: each event goes to its session's stream, if this VM still holds it.
fn deliver(queue_id: u32) {
    while let Ok(Some(item)) = raw::dequeue_shared_queue(queue_id) {
        let text = String::from_utf8_lossy(&item);
        let Some((session, event)) = text.split_once('\n') else {
            continue;
        };
        let stream = STREAMS.with(|s| s.borrow().get(session).cloned());
        if let Some(ctx) = stream.filter(HttpContext::is_live) {
            if let Err(e) = ctx.write_response(event) {
                crate::warn!("cannot write to the stream of MCP session {session}: {e}");
            }
        }
    }
}

/// Writes a keep-alive comment to every open stream.
pub(crate) fn keep_alive() {
    let streams: Vec<HttpContext> = STREAMS.with(|s| s.borrow().values().cloned().collect());
    for ctx in streams.iter().filter(|ctx| ctx.is_live()) {
        let _ = ctx.write_response(": keep-alive\n\n");
    }
}

/// `ctx` is done: if it was a server stream, it is forgotten, and its session ends with it
/// (the older transport) or no longer has a stream.
pub(crate) fn done(ctx: &HttpContext) {
    let Some(stream) = ctx.get::<ServerStream>() else {
        return;
    };
    let removed = STREAMS.with(|s| {
        let mut streams = s.borrow_mut();
        let ours = streams
            .get(&stream.session)
            .is_some_and(|c| c.id() == ctx.id());
        if ours {
            streams.remove(&stream.session)
        } else {
            None
        }
    });
    if removed.is_none() {
        return;
    }
    drop(removed);
    if stream.ends_session {
        session::end(&stream.session);
    } else {
        session::detach_stream(&stream.session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_comes_from_either_query_parameter() {
        assert_eq!(
            query_session("/messages/?sessionId=ab").as_deref(),
            Some("ab")
        );
        assert_eq!(query_session("/m?x=1&session_id=cd").as_deref(), Some("cd"));
        assert_eq!(query_session("/messages/"), None);
    }
}
