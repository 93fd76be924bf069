//! JSON-RPC 2.0 as MCP carries it: a POST body holds one message or a batch; requests have
//! an `id` (a string or a number) and want an answer, notifications have none, and answers
//! from the client (to server requests) are only taken note of.

use serde_json::{json, Map, Value};

/// The standard error codes.
pub mod code {
    /// The body is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a JSON-RPC 2.0 message.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The parameters do not fit the method (an unknown tool, say).
    pub const INVALID_PARAMS: i64 = -32602;
    /// The server failed.
    pub const INTERNAL_ERROR: i64 = -32603;
}

/// One message of a POST body.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request: it gets an answer with its `id`.
    Request {
        /// The request's id, as the client wrote it.
        id: Value,
        /// The method, e.g. `tools/call`.
        method: String,
        /// The parameters (`{}` when absent).
        params: Value,
    },
    /// A notification (`notifications/initialized`, …): no answer.
    Notification {
        /// The method.
        method: String,
    },
    /// An answer from the client to a request of the server's.
    Answer,
    /// Not a JSON-RPC 2.0 message: answered with an invalid-request error (with its id if
    /// it had a usable one).
    Invalid {
        /// The id, when the message had one.
        id: Value,
        /// What is wrong with it.
        reason: String,
    },
}

/// The messages of a body, and whether it was a batch (answered with an array).
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    /// The messages in order.
    pub messages: Vec<Message>,
    /// A JSON array of messages.
    pub batch: bool,
}

/// Reads a POST body; `Err` with a parse-error answer when it is not JSON (or an empty batch).
pub fn parse(body: &[u8]) -> Result<Body, Value> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| error(Value::Null, code::PARSE_ERROR, &format!("parse error: {e}")))?;
    match value {
        Value::Array(items) if items.is_empty() => {
            Err(error(Value::Null, code::INVALID_REQUEST, "an empty batch"))
        }
        Value::Array(items) => Ok(Body {
            messages: items.into_iter().map(message).collect(),
            batch: true,
        }),
        other => Ok(Body {
            messages: vec![message(other)],
            batch: false,
        }),
    }
}

/// Reads one message (of a body already parsed as JSON).
pub fn parse_one(value: &Value) -> Message {
    message(value.clone())
}

fn message(value: Value) -> Message {
    let Value::Object(object) = value else {
        return invalid(Value::Null, "a message must be a JSON object");
    };
    let id = object.get("id").cloned();
    let usable_id = id
        .clone()
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64());
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(usable_id.unwrap_or(Value::Null), "jsonrpc must be \"2.0\"");
    }
    match (object.get("method").and_then(Value::as_str), id) {
        (Some(method), None) => Message::Notification {
            method: method.to_string(),
        },
        (Some(method), Some(_)) => match usable_id {
            Some(id) => Message::Request {
                id,
                method: method.to_string(),
                params: params(&object),
            },
            None => invalid(Value::Null, "an id must be a string or an integer"),
        },
        (None, Some(_)) if object.contains_key("result") || object.contains_key("error") => {
            Message::Answer
        }
        (None, _) => invalid(usable_id.unwrap_or(Value::Null), "a message needs a method"),
    }
}

fn params(object: &Map<String, Value>) -> Value {
    match object.get("params") {
        Some(Value::Null) | None => Value::Object(Map::new()),
        Some(other) => other.clone(),
    }
}

fn invalid(id: Value, reason: &str) -> Message {
    Message::Invalid {
        id,
        reason: reason.to_string(),
    }
}

/// A successful answer.
pub fn result(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error answer.
pub fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_told_apart() {
        let body = parse(
            br#"[
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": "a", "result": {}},
            {"jsonrpc": "1.0", "id": 2, "method": "ping"},
            {"jsonrpc": "2.0", "id": 1.5, "method": "ping"},
            7
        ]"#,
        )
        .unwrap();
        assert!(body.batch);
        assert_eq!(
            body.messages[0],
            Message::Request {
                id: json!(1),
                method: "tools/list".into(),
                params: json!({})
            }
        );
        assert_eq!(
            body.messages[1],
            Message::Notification {
                method: "notifications/initialized".into()
            }
        );
        assert_eq!(body.messages[2], Message::Answer);
        assert!(matches!(&body.messages[3], Message::Invalid { id, .. } if id == &json!(2)));
        assert!(matches!(&body.messages[4], Message::Invalid { id, .. } if id.is_null()));
        assert!(matches!(&body.messages[5], Message::Invalid { .. }));
    }

    #[test]
    fn a_body_that_is_not_json_is_a_parse_error() {
        let answer = parse(b"{nope").unwrap_err();
        assert_eq!(answer["error"]["code"], code::PARSE_ERROR);
        assert!(answer["id"].is_null());
        assert_eq!(
            parse(b"[]").unwrap_err()["error"]["code"],
            code::INVALID_REQUEST
        );
    }
}
