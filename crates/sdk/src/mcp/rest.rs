//! REST APIs as MCP tools from configuration alone, in wasm-go's REST-to-MCP format (the
//! `tools` of a Higress `mcp-server` configuration): each tool has `args` (its input schema),
//! a `requestTemplate` (`url`, `method`, `headers`, `body`, or the arguments as a JSON body,
//! URL parameters or a form with `argsToJsonBody`, `argsToUrlParam`, `argsToFormBody`; an
//! argument's `position` of `query`, `header` or `body` puts it there alone), a
//! `responseTemplate` (`body`, or the answer between `prependBody` and `appendBody`) and an
//! `errorResponseTemplate`. Templates see `.args` and `.config` (the server's `config`);
//! response templates see the answer's JSON (and `_headers` for errors). The call goes to
//! the route's upstream as an HTTP callout (wasm-go rewrites the request itself with
//! `RouteCall`; the service sees the same method, path, headers and body).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::template::Template;
use super::tool::{ToolCall, ToolResult};
use crate::cluster::RouteCluster;
use crate::context::HttpContext;
use crate::http::HttpClient;

/// A template written in the configuration, compiled when it is read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct TemplateText(Template);

impl TryFrom<String> for TemplateText {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Template::parse(&text).map(TemplateText)
    }
}

/// One argument of a REST tool.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RestArg {
    name: String,
    description: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    required: bool,
    default: Option<Value>,
    #[serde(rename = "enum")]
    choices: Option<Vec<Value>>,
    items: Option<Value>,
    properties: Option<Value>,
    position: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
struct RestHeader {
    key: String,
    value: Option<TemplateText>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestTemplate {
    url: TemplateText,
    #[serde(default = "get")]
    method: String,
    #[serde(default)]
    headers: Vec<RestHeader>,
    body: Option<TemplateText>,
    #[serde(default)]
    args_to_json_body: bool,
    #[serde(default)]
    args_to_url_param: bool,
    #[serde(default)]
    args_to_form_body: bool,
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ResponseTemplate {
    body: Option<TemplateText>,
    prepend_body: String,
    append_body: String,
}

/// A REST tool of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestTool {
    pub(crate) name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    args: Vec<RestArg>,
    request_template: RequestTemplate,
    #[serde(default)]
    response_template: ResponseTemplate,
    error_response_template: Option<TemplateText>,
}

impl RestTool {
    /// Its `tools/list` entry: the input schema made of its `args`.
    pub fn to_json(&self) -> Value {
        let mut properties = Map::new();
        for arg in &self.args {
            let mut schema = json!({
                "type": arg.kind.as_deref().unwrap_or("string"),
                "description": arg.description,
            });
            for (key, value) in [
                ("default", &arg.default),
                ("items", &arg.items),
                ("properties", &arg.properties),
            ] {
                if let Some(value) = value {
                    schema[key] = value.clone();
                }
            }
            if let Some(choices) = &arg.choices {
                schema["enum"] = Value::Array(choices.clone());
            }
            properties.insert(arg.name.clone(), schema);
        }
        let required: Vec<&str> = self
            .args
            .iter()
            .filter(|a| a.required)
            .map(|a| a.name.as_str())
            .collect();
        json!({
            "name": self.name,
            "description": self.description,
            "inputSchema": {"type": "object", "properties": properties, "required": required},
        })
    }

    /// Calls the REST API with the call's `arguments`; `server_config` is `.config`.
    pub fn call(&self, _ctx: &HttpContext, server_config: &Value, arguments: Value) -> ToolCall {
        let mut args = match arguments {
            Value::Object(map) => map,
            _ => return ToolResult::error("the arguments must be a JSON object").into(),
        };
        for arg in &self.args {
            if !args.contains_key(&arg.name) {
                match &arg.default {
                    Some(default) => {
                        args.insert(arg.name.clone(), default.clone());
                    }
                    None if arg.required => {
                        return ToolResult::error(format!("missing required argument {}", arg.name))
                            .into()
                    }
                    None => {}
                }
            }
        }
        let request = self.request(&args, server_config);
        let tool = self.clone();
        ToolCall::Later(Box::pin(async move {
            let client = HttpClient::new(RouteCluster::default());
            let answer = client
                .request(&request.method, &request.url)
                .headers(request.headers)
                .body(request.body)
                .timeout_ms(5000)
                .await?;
            Ok(tool.result(answer.status, &answer.headers, &answer.body))
        }))
    }

    fn request(&self, args: &Map<String, Value>, server_config: &Value) -> Request {
        let template = &self.request_template;
        let data = json!({"args": args, "config": server_config});
        let mut url = template.url.0.render(&data);
        let mut headers: Vec<(String, String)> = template
            .headers
            .iter()
            .map(|h| {
                let value = h
                    .value
                    .as_ref()
                    .map(|v| v.0.render(&data))
                    .unwrap_or_default();
                (h.key.clone(), value)
            })
            .collect();
        let placed = |position: &str| -> Map<String, Value> {
            self.args
                .iter()
                .filter(|a| a.position.as_deref() == Some(position))
                .filter_map(|a| Some((a.name.clone(), args.get(&a.name)?.clone())))
                .collect()
        };
        let mut query = placed("query");
        if template.args_to_url_param {
            query = args.clone();
        }
        if !query.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&form(&query));
        }
        for (name, value) in placed("header") {
            headers.push((name, plain(&value)));
        }
        let in_body = placed("body");
        let (body, content_type) = if template.args_to_json_body {
            (
                Value::Object(args.clone()).to_string(),
                Some("application/json"),
            )
        } else if template.args_to_form_body {
            (form(args), Some("application/x-www-form-urlencoded"))
        } else if let Some(body) = &template.body {
            (body.0.render(&data), None)
        } else if !in_body.is_empty() {
            (Value::Object(in_body).to_string(), Some("application/json"))
        } else {
            (String::new(), None)
        };
        if let Some(content_type) = content_type {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("content-type".into(), content_type.into()));
            }
        }
        Request {
            method: template.method.to_ascii_uppercase(),
            url,
            headers,
            body: body.into_bytes(),
        }
    }

    fn result(&self, status: u16, headers: &[(String, String)], body: &[u8]) -> ToolResult {
        let text = String::from_utf8_lossy(body).into_owned();
        let data: Value = serde_json::from_slice(body).unwrap_or(Value::String(text.clone()));
        if !(200..300).contains(&status) {
            if let Some(template) = &self.error_response_template {
                let mut data = match data {
                    Value::Object(map) => map,
                    other => Map::from_iter([("body".to_string(), other)]),
                };
                let headers: Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                data.insert("_headers".into(), Value::Object(headers));
                return ToolResult::error(template.0.render(&Value::Object(data)));
            }
            return ToolResult::error(format!("call failed, status: {status}, response: {text}"));
        }
        let response = &self.response_template;
        match &response.body {
            Some(template) => ToolResult::text(template.0.render(&data)),
            None => ToolResult::text(format!(
                "{}{text}{}",
                response.prepend_body, response.append_body
            )),
        }
    }
}

struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A value as text in a URL or header: strings raw, the rest as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `k=v&…`, each part percent-encoded as a form is.
fn form(values: &Map<String, Value>) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(&plain(v))))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(json: Value) -> RestTool {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn requests_are_made_from_the_templates_and_arguments() {
        let search = tool(json!({
            "name": "search", "args": [{"name": "q", "required": true}, {"name": "page", "type": "integer", "position": "query"}],
            "requestTemplate": {"url": "http://api.test/items?q={{.args.q}}", "headers": [{"key": "x-key", "value": "{{.config.key}}"}]}
        }));
        let args = json!({"q": "ap", "page": 2}).as_object().unwrap().clone();
        let request = search.request(&args, &json!({"key": "k1"}));
        assert_eq!(request.url, "http://api.test/items?q=ap&page=2");
        assert_eq!(request.headers, [("x-key".to_string(), "k1".to_string())]);
        let create = tool(json!({"name": "create", "args": [{"name": "name"}],
            "requestTemplate": {"url": "http://api.test/items", "method": "post", "argsToJsonBody": true}}));
        let request = create.request(
            &json!({"name": "kiwi x"}).as_object().unwrap().clone(),
            &Value::Null,
        );
        assert_eq!(
            (request.method.as_str(), request.body.as_slice()),
            ("POST", br#"{"name":"kiwi x"}"#.as_slice())
        );
        let form_tool = tool(
            json!({"name": "f", "requestTemplate": {"url": "http://a/", "argsToUrlParam": true}}),
        );
        let request = form_tool.request(
            &json!({"name": "kiwi x&y"}).as_object().unwrap().clone(),
            &Value::Null,
        );
        assert_eq!(request.url, "http://a/?name=kiwi%20x%26y");
    }

    #[test]
    fn answers_become_results() {
        let search = tool(json!({"name": "s", "requestTemplate": {"url": "http://a/"},
            "responseTemplate": {"body": "found {{.count}}"},
            "errorResponseTemplate": "failed: {{.error}} ({{._headers.x-code}})"}));
        assert_eq!(
            search.result(200, &[], br#"{"count": 3}"#),
            ToolResult::text("found 3")
        );
        let failed = search.result(
            400,
            &[("x-code".into(), "E1".into())],
            br#"{"error": "no"}"#,
        );
        assert_eq!(failed, ToolResult::error("failed: no (E1)"));
        let raw = tool(
            json!({"name": "r", "requestTemplate": {"url": "http://a/"}, "responseTemplate": {"prependBody": "<", "appendBody": ">"}}),
        );
        assert_eq!(raw.result(200, &[], b"x"), ToolResult::text("<x>"));
        assert!(raw.result(500, &[], b"down").content[0]["text"]
            .as_str()
            .unwrap()
            .contains("status: 500"));
    }

    #[test]
    fn a_bad_template_is_refused_when_read() {
        let bad = serde_json::from_value::<RestTool>(
            json!({"name": "b", "requestTemplate": {"url": "{{printf .x}}"}}),
        );
        assert!(bad.unwrap_err().to_string().contains("not supported"));
    }
}
