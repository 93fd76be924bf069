//! The access log line of a request (text or JSON) with what the plugins wrote for it: the
//! `custom_log` attributes and Higress's `ai_log` (wasm-go's `WriteUserAttributeToLog` and
//! `WriteUserAttributeToLogWithKey(AILogKey)`); an upgraded request's line, written when its
//! tunnel closed, says the bytes it moved each way.

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
    /// What the plugins wrote for the log.
    pub(crate) plugin_log: &'a PluginLog,
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
            let log = entry.plugin_log;
            let mut custom = String::new();
            if !log.custom.is_empty() {
                custom = format!(" {}", Value::Object(log.custom.clone()));
            }
            if !log.ai.is_empty() {
                custom.push_str(&format!(" ai_log={}", Value::Object(log.ai.clone())));
            }
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
                let log = entry.plugin_log;
                // As Higress's log format writes it: `"ai_log":"%FILTER_STATE(wasm.ai_log:PLAIN)%"`,
                // a string holding the JSON object.
                if !log.ai.is_empty() {
                    let ai = Value::Object(log.ai.clone()).to_string();
                    object.insert("ai_log".into(), Value::String(ai));
                }
                for (key, value) in &log.custom {
                    object.entry(key.clone()).or_insert(value.clone());
                }
            }
            tracing::info!(target: "access", "{line}");
        }
    }
}

/// The properties plugins write for the access log, read after their `on_log`.
pub(crate) const LOG_PROPERTIES: [&str; 2] = ["custom_log", "ai_log"];

/// What the plugins of a request wrote for its access log line.
#[derive(Debug, Default)]
pub(crate) struct PluginLog {
    /// `custom_log` attributes, merged into the line.
    pub(crate) custom: Map<String, Value>,
    /// `ai_log` attributes (token usage, model, …), the line's `ai_log` field.
    pub(crate) ai: Map<String, Value>,
}

impl PluginLog {
    /// Adds one plugin's value of `property` (one of [`LOG_PROPERTIES`]): a JSON object,
    /// as a JSON string holding one, or escaped as the inside of a JSON string (wasm-go's
    /// `MarshalStr`: `{\"k\":\"v\"}`); text that is not a JSON object is kept under the
    /// property's name.
    pub(crate) fn add(&mut self, property: &str, raw: &[u8]) {
        let into = if property == "ai_log" {
            &mut self.ai
        } else {
            &mut self.custom
        };
        let text = String::from_utf8_lossy(raw);
        let parsed = serde_json::from_str::<Value>(&text)
            .or_else(|_| serde_json::from_str::<Value>(&format!("\"{text}\"")))
            .ok()
            .and_then(|v| match v {
                Value::String(inner) => serde_json::from_str(&inner).ok(),
                other => Some(other),
            });
        match parsed {
            Some(Value::Object(map)) => into.extend(map),
            _ => {
                into.insert(
                    property.into(),
                    Value::String(String::from_utf8_lossy(raw).into_owned()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PluginLog;

    #[test]
    fn log_attributes_are_read_in_each_encoding_plugins_write() {
        let mut log = PluginLog::default();
        log.add("custom_log", br#"{"plain":1}"#);
        log.add("custom_log", br#""{\"quoted\":2}""#);
        log.add("ai_log", br#"{\"input_token\":7,\"model\":\"m\"}"#);
        log.add("ai_log", b"not json");
        assert_eq!(log.custom["plain"], 1);
        assert_eq!(log.custom["quoted"], 2);
        assert_eq!(log.ai["input_token"], 7);
        assert_eq!(log.ai["model"], "m");
        assert_eq!(log.ai["ai_log"], "not json");
    }
}
