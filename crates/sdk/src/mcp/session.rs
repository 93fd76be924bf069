//! Sessions of MCP's streamable HTTP transport (`Mcp-Session-Id`): an id is issued with the
//! answer to `initialize` and kept in shared data, so every VM of the plugin knows it;
//! `DELETE` with the id ends the session. A request naming an ended or unknown session gets
//! 404 (the client then starts a new one); a request naming none is served without one.

use crate::raw;

/// The header that carries the id.
pub const HEADER: &str = "mcp-session-id";

fn key(id: &str) -> String {
    let plugin = raw::get_property(&["plugin_name"])
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    format!("wasmgate_mcp_session:{plugin}:{id}")
}

/// Starts a session that speaks `protocol_version`; its id.
pub fn start(protocol_version: &str) -> String {
    let id = crate::leader::random_uuid();
    if let Err(e) = raw::set_shared_data(&key(&id), protocol_version.as_bytes(), 0) {
        crate::warn!("cannot keep MCP session {id}: {e}");
    }
    id
}

/// Whether session `id` was started and not ended.
pub fn is_live(id: &str) -> bool {
    matches!(raw::get_shared_data(&key(id)), Ok(Some((value, _))) if !value.is_empty())
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
