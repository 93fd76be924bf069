//! MCP tools: a name, a description, the JSON Schema of the arguments (derived from a serde
//! type with `schemars`, or given), and the function that answers a call, at once or later
//! (an `async` tool may make callouts). A tool's answer is a [`ToolResult`]; a tool that
//! fails, or is called with arguments that do not fit its type, answers with an error
//! result (`isError: true`) the model can read and correct, as MCP asks for tool errors.

use std::future::Future;
use std::pin::Pin;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::context::HttpContext;
use crate::error::{Error, Result};

/// The answer of a tool that answers later.
pub type ToolFuture = Pin<Box<dyn Future<Output = Result<ToolResult>>>>;

/// What calling a tool gives: its answer, or the future of it.
pub enum ToolCall {
    /// Answered.
    Done(Result<ToolResult>),
    /// Answered when the future ends (the request waits; callouts may run meanwhile).
    Later(ToolFuture),
}

impl From<ToolResult> for ToolCall {
    fn from(result: ToolResult) -> ToolCall {
        ToolCall::Done(Ok(result))
    }
}

impl From<Result<ToolResult>> for ToolCall {
    fn from(result: Result<ToolResult>) -> ToolCall {
        ToolCall::Done(result)
    }
}

/// A tool's answer: content for the model, optionally structured content for programs.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The content items (`{"type": "text", "text": …}`, images, …).
    pub content: Vec<Value>,
    /// `structuredContent`, when the tool gives JSON.
    pub structured: Option<Value>,
    /// An error the model should see (`isError`).
    pub is_error: bool,
}

impl ToolResult {
    /// A text answer.
    pub fn text(text: impl Into<String>) -> ToolResult {
        ToolResult {
            content: vec![json!({"type": "text", "text": text.into()})],
            structured: None,
            is_error: false,
        }
    }

    /// A JSON answer: the value as `structuredContent`, and its text as the content (for
    /// clients that read only text), as MCP recommends.
    pub fn json(value: &impl Serialize) -> Result<ToolResult> {
        let value = serde_json::to_value(value).map_err(|e| Error::Decode(e.to_string()))?;
        Ok(ToolResult {
            content: vec![json!({"type": "text", "text": value.to_string()})],
            structured: Some(value),
            is_error: false,
        })
    }

    /// An error answer with a message for the model.
    pub fn error(message: impl Into<String>) -> ToolResult {
        ToolResult {
            is_error: true,
            ..ToolResult::text(message)
        }
    }

    /// The `tools/call` result object.
    pub fn to_json(&self) -> Value {
        let mut result = json!({"content": self.content, "isError": self.is_error});
        if let Some(structured) = &self.structured {
            result["structuredContent"] = structured.clone();
        }
        result
    }
}

type CallFn = Box<dyn Fn(&HttpContext, Value) -> ToolCall>;

/// A tool of an MCP server.
pub struct Tool {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) input_schema: Value,
    call: CallFn,
}

impl Tool {
    /// A tool whose arguments are `A` (deserialized from the call's `arguments`; its JSON
    /// Schema is the tool's `inputSchema`). `f` answers with a [`ToolResult`], a
    /// `Result<ToolResult>` or a [`ToolCall`].
    pub fn new<A, R>(
        name: &str,
        description: &str,
        f: impl Fn(&HttpContext, A) -> R + 'static,
    ) -> Tool
    where
        A: DeserializeOwned + JsonSchema,
        R: Into<ToolCall>,
    {
        Tool::with_schema(
            name,
            description,
            schema_of::<A>(),
            move |ctx, arguments| match serde_json::from_value::<A>(arguments) {
                Ok(arguments) => f(ctx, arguments).into(),
                Err(e) => ToolCall::Done(Ok(ToolResult::error(format!(
                    "invalid arguments for {}: {e}",
                    std::any::type_name::<A>()
                        .rsplit("::")
                        .next()
                        .unwrap_or("the tool")
                )))),
            },
        )
    }

    /// An `async` tool whose arguments are `A`: `f` gets its own handle to the request and
    /// may await callouts (HTTP, gRPC, Redis) before it answers.
    pub fn new_async<A, F, Fut>(name: &str, description: &str, f: F) -> Tool
    where
        A: DeserializeOwned + JsonSchema,
        F: Fn(HttpContext, A) -> Fut + 'static,
        Fut: Future<Output = Result<ToolResult>> + 'static,
    {
        Tool::new(name, description, move |ctx: &HttpContext, arguments: A| {
            ToolCall::Later(Box::pin(f(ctx.clone(), arguments)))
        })
    }

    /// A tool with a JSON Schema of its own and untyped arguments (a JSON object).
    pub fn with_schema<R: Into<ToolCall>>(
        name: &str,
        description: &str,
        input_schema: Value,
        f: impl Fn(&HttpContext, Value) -> R + 'static,
    ) -> Tool {
        Tool {
            name: name.to_string(),
            description: description.to_string(),
            input_schema,
            call: Box::new(move |ctx, arguments| f(ctx, arguments).into()),
        }
    }

    /// Its `tools/list` entry.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        })
    }

    /// Calls it with the call's `arguments`.
    pub(crate) fn call(&self, ctx: &HttpContext, arguments: Value) -> ToolCall {
        (self.call)(ctx, arguments)
    }
}

/// The JSON Schema of `A` as an MCP `inputSchema`: an object schema, without the
/// `$schema` and `title` keys schemars adds.
pub fn schema_of<A: JsonSchema>() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(A)).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        map.remove("title");
        map.entry("type").or_insert_with(|| json!("object"));
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Add {
        /// The first addend.
        a: i64,
        /// The second addend.
        b: i64,
        /// A label.
        label: Option<String>,
    }

    #[test]
    fn the_input_schema_comes_from_the_type() {
        let schema = schema_of::<Add>();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["a"]["type"], "integer");
        assert_eq!(
            schema["properties"]["a"]["description"],
            "The first addend."
        );
        assert_eq!(schema["required"], json!(["a", "b"]));
        assert!(schema.get("$schema").is_none());
    }

    #[test]
    fn results_serialize_as_mcp_has_them() {
        assert_eq!(
            ToolResult::text("5").to_json(),
            json!({"content": [{"type": "text", "text": "5"}], "isError": false})
        );
        let json = ToolResult::json(&json!({"sum": 5})).unwrap().to_json();
        assert_eq!(json["structuredContent"]["sum"], 5);
        assert_eq!(json["content"][0]["text"], "{\"sum\":5}");
        assert_eq!(ToolResult::error("no").to_json()["isError"], true);
    }
}
