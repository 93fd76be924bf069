//! User attributes: values a plugin collects for a request and writes to the access log
//! (`custom_log`, `ai_log` or any log property, in wasm-go's escaped form) or to trace span
//! tags, as [`HttpContext`] methods.

use serde_json::{Map, Value};

use crate::context::HttpContext;
use crate::error::{Error, Result};

/// The `custom_log` property: attributes written there appear in the access log.
pub const CUSTOM_LOG_KEY: &str = "custom_log";
/// The `ai_log` property: attributes for AI access-log fields.
pub const AI_LOG_KEY: &str = "ai_log";
/// The prefix of trace span-tag properties.
pub const TRACE_SPAN_TAG_PREFIX: &str = "trace_span_tag.";

impl HttpContext {
    /// Sets a user attribute (written to the access log or trace on request).
    pub fn set_user_attribute(&self, key: &str, value: impl Into<Value>) {
        self.data()
            .user_attributes
            .insert(key.to_string(), value.into());
    }

    /// A user attribute.
    pub fn user_attribute(&self, key: &str) -> Option<Value> {
        self.data().user_attributes.get(key).cloned()
    }

    /// All user attributes.
    pub fn user_attributes(&self) -> Map<String, Value> {
        self.data().user_attributes.clone()
    }

    /// Replaces all user attributes.
    pub fn set_user_attributes(&self, attributes: Map<String, Value>) {
        self.data().user_attributes = attributes;
    }

    /// Merges the user attributes into the `custom_log` property (read by the access log).
    pub fn write_user_attributes_to_log(&self) -> Result<()> {
        self.write_user_attributes_to_log_with_key(CUSTOM_LOG_KEY)
    }

    /// Merges the user attributes into a log property (`custom_log` or `ai_log`): the
    /// property's JSON object is read, the attributes are merged in and it is written back.
    /// As in wasm-go, the property holds the JSON text escaped as a JSON string body
    /// (`{\"a\":1}`, no outer quotes), ready to paste into a JSON access-log line.
    pub fn write_user_attributes_to_log_with_key(&self, key: &str) -> Result<()> {
        let existing = self.property(&[key])?;
        let mut merged: Map<String, Value> = match existing {
            Some(bytes) if !bytes.is_empty() => parse_log_property(&bytes)
                .ok_or_else(|| Error::Decode(format!("property {key} is not a JSON object")))?,
            _ => Map::new(),
        };
        for (k, v) in self.user_attributes() {
            merged.insert(k, v);
        }
        self.set_property(&[key], escape_log_json(&Value::Object(merged)).as_bytes())
    }

    /// Merges the user attributes into the `ai_log` property (Higress's AI access-log
    /// fields, `%FILTER_STATE(wasm.ai_log:PLAIN)%`).
    pub fn write_user_attributes_to_ai_log(&self) -> Result<()> {
        self.write_user_attributes_to_log_with_key(AI_LOG_KEY)
    }

    /// Writes each user attribute as a trace span tag (`trace_span_tag.<key>`).
    pub fn write_user_attributes_to_trace(&self) -> Result<()> {
        for (k, v) in self.user_attributes() {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let key = format!("{TRACE_SPAN_TAG_PREFIX}{k}");
            self.set_property(&[key.as_str()], text.as_bytes())?;
        }
        Ok(())
    }
}

/// Reads `custom_log`/`ai_log`: wasm-go's escaped form (`{\"a\":1}`), or a plain JSON
/// object.
fn parse_log_property(bytes: &[u8]) -> Option<Map<String, Value>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let unescaped = serde_json::from_str::<String>(&format!("\"{text}\""));
    let json = match &unescaped {
        Ok(inner) => inner.as_str(),
        Err(_) => text,
    };
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Some(map),
        _ => match serde_json::from_str::<Value>(text).ok()? {
            Value::Object(map) => Some(map),
            _ => None,
        },
    }
}

/// wasm-go's `MarshalStr`: the JSON text escaped as the body of a JSON string.
pub(crate) fn escape_log_json(value: &Value) -> String {
    let quoted = Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_property_round_trips_the_escaped_form() {
        let map = parse_log_property(br#"{\"a\":1,\"b\":\"x y\"}"#).unwrap();
        assert_eq!(map["a"], 1);
        let escaped = escape_log_json(&Value::Object(map));
        assert_eq!(escaped, r#"{\"a\":1,\"b\":\"x y\"}"#);
        assert!(parse_log_property(br#"{"a":1}"#).is_some());
        assert!(parse_log_property(b"[1]").is_none());
    }
}
