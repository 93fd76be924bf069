//! The access log line of a request (text or JSON) with the plugins' `custom_log`
//! attributes; an upgraded request's line, written when its tunnel closed, says the bytes
//! it moved each way.

use serde_json::{Map, Value};

use crate::config::AccessLog;

/// What the line of one request says.
pub(crate) struct Entry<'a> {
    pub(crate) parts: &'a http::request::Parts,
    pub(crate) status: http::StatusCode,
    pub(crate) elapsed: std::time::Duration,
    pub(crate) route: Option<&'a str>,
    pub(crate) upstream: Option<&'a str>,
    pub(crate) request_id: &'a str,
    /// The plugins' `custom_log` attributes.
    pub(crate) custom_log: &'a Map<String, Value>,
    /// A tunnel's bytes: from the client, to the client (Envoy's `%BYTES_RECEIVED%`,
    /// `%BYTES_SENT%`).
    pub(crate) tunnel: Option<(u64, u64)>,
}

/// Writes the line of `entry` in `format` (target `access`).
pub(crate) fn write(format: AccessLog, entry: &Entry<'_>) {
    let parts = entry.parts;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let route = entry.route.unwrap_or("-");
    let upstream = entry.upstream.unwrap_or("-");
    let status = entry.status;
    let protocol = crate::headers::protocol(parts.version);
    let millis = entry.elapsed.as_secs_f64() * 1000.0;
    match format {
        AccessLog::Off => {}
        AccessLog::Text => {
            let custom = if entry.custom_log.is_empty() {
                String::new()
            } else {
                format!(" {}", serde_json::Value::Object(entry.custom_log.clone()))
            };
            let tunnel = entry.tunnel.map_or(String::new(), |(received, sent)| {
                format!(" bytes_received={received} bytes_sent={sent}")
            });
            tracing::info!(
                target: "access",
                "{} {path} {protocol} {} {millis:.3}ms route={route} upstream={upstream} request_id={}{tunnel}{custom}",
                parts.method,
                status.as_u16(),
                entry.request_id
            );
        }
        AccessLog::Json => {
            let mut line = serde_json::json!({
                "method": parts.method.as_str(),
                "path": path,
                "protocol": protocol,
                "status": status.as_u16(),
                "duration_ms": (millis * 1000.0).round() / 1000.0,
                "route": route,
                "upstream": upstream,
                "request_id": entry.request_id,
            });
            if let Some(object) = line.as_object_mut() {
                if let Some((received, sent)) = entry.tunnel {
                    object.insert("bytes_received".into(), received.into());
                    object.insert("bytes_sent".into(), sent.into());
                }
                for (key, value) in entry.custom_log {
                    object.entry(key.clone()).or_insert(value.clone());
                }
            }
            tracing::info!(target: "access", "{line}");
        }
    }
}

/// Adds a plugin's `custom_log` (a JSON object, possibly escaped as a JSON string) to the
/// access log's attributes; text that is not JSON is kept under `custom_log`.
pub(crate) fn merge_custom_log(into: &mut serde_json::Map<String, serde_json::Value>, raw: &[u8]) {
    let parsed = serde_json::from_slice::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::String(inner) => serde_json::from_str(&inner).ok(),
            other => Some(other),
        });
    match parsed {
        Some(serde_json::Value::Object(map)) => into.extend(map),
        _ => {
            into.insert(
                "custom_log".into(),
                serde_json::Value::String(String::from_utf8_lossy(raw).into_owned()),
            );
        }
    }
}
