//! Sessions of MCP's streamable HTTP transport (`Mcp-Session-Id`): an id is issued with the
//! answer to `initialize` and kept in shared data, so every VM of the plugin knows it;
//! `DELETE` with the id ends the session. A request naming an ended or unknown session gets
//! 404 (the client then starts a new one); a request naming none is served without one.
//!
//! A session's value is its protocol version and, while its server stream is open, the name
//! of the shared queue of the VM that holds the stream (`version\nqueue`).

use crate::raw;

/// The header that carries the id.
pub const HEADER: &str = "mcp-session-id";

/// A property of the plugin as text (empty when absent).
pub fn plugin_property(name: &str) -> String {
    raw::get_property(&[name])
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn key(id: &str) -> String {
    let plugin = plugin_property("plugin_name");
    format!("wasmgate_mcp_session:{plugin}:{id}")
}

fn value(id: &str) -> Option<String> {
    match raw::get_shared_data(&key(id)) {
        Ok(Some((value, _))) if !value.is_empty() => {
            Some(String::from_utf8_lossy(&value).into_owned())
        }
        _ => None,
    }
}

fn set(id: &str, value: &str) {
    if let Err(e) = raw::set_shared_data(&key(id), value.as_bytes(), 0) {
        crate::warn!("cannot keep MCP session {id}: {e}");
    }
}

/// Records that session `id`'s server stream is open on the VM that owns `queue`; false
/// when the session is not live.
pub fn attach_stream(id: &str, queue: &str) -> bool {
    let Some(value) = value(id) else {
        return false;
    };
    let version = value.split('\n').next().unwrap_or_default();
    set(id, &format!("{version}\n{queue}"));
    true
}

/// Records that session `id`'s server stream closed (a live session stays live).
pub fn detach_stream(id: &str) {
    if let Some(value) = value(id) {
        set(id, value.split('\n').next().unwrap_or_default());
    }
}

/// The queue of the VM that holds session `id`'s server stream, while one is open.
pub fn stream_queue(id: &str) -> Option<String> {
    let value = value(id)?;
    let queue = value.split_once('\n')?.1;
    (!queue.is_empty()).then(|| queue.to_string())
}

/// Starts a session that speaks `protocol_version`; its id.
pub fn start(protocol_version: &str) -> String {
    let id = crate::leader::random_uuid();
    set(&id, protocol_version);
    id
}

/// Whether session `id` was started and not ended.
pub fn is_live(id: &str) -> bool {
    value(id).is_some()
}

/// Ends session `id` (shared data has no removal: the value is emptied); false when it was
/// not live.
pub fn end(id: &str) -> bool {
    let live = is_live(id);
    if live {
        let _ = raw::set_shared_data(&key(id), b"", 0);
    }
    live
}
