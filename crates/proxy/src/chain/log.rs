//! The access log line of a request (text or JSON) with the plugins' `custom_log`
//! attributes.

use crate::config::{AccessLog, GatewayConfig};

use super::Walk;

pub(super) fn access_log(
    config: &GatewayConfig,
    walk: &Walk,
    parts: &http::request::Parts,
    status: http::StatusCode,
    elapsed: std::time::Duration,
) {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let route = walk.route.as_ref().map(|r| r.name.as_str()).unwrap_or("-");
    let upstream = walk.upstream.as_deref().unwrap_or("-");
    let millis = elapsed.as_secs_f64() * 1000.0;
    match config.access_log {
        AccessLog::Off => {}
        AccessLog::Text => {
            let custom = if walk.custom_log.is_empty() {
                String::new()
            } else {
                format!(" {}", serde_json::Value::Object(walk.custom_log.clone()))
            };
            tracing::info!(
                target: "access",
                "{} {path} {} {millis:.3}ms route={route} upstream={upstream} request_id={}{custom}",
                parts.method,
                status.as_u16(),
                walk.request_id
            );
        }
        AccessLog::Json => {
            let mut line = serde_json::json!({
                "method": parts.method.as_str(),
                "path": path,
                "status": status.as_u16(),
                "duration_ms": (millis * 1000.0).round() / 1000.0,
                "route": route,
                "upstream": upstream,
                "request_id": walk.request_id,
            });
            if let Some(object) = line.as_object_mut() {
                for (key, value) in &walk.custom_log {
                    object.entry(key.clone()).or_insert(value.clone());
                }
            }
            tracing::info!(target: "access", "{line}");
        }
    }
}

/// Adds a plugin's `custom_log` (a JSON object, possibly escaped as a JSON string) to the
/// access log's attributes; text that is not JSON is kept under `custom_log`.
pub(super) fn merge_custom_log(into: &mut serde_json::Map<String, serde_json::Value>, raw: &[u8]) {
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
