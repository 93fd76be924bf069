//! The templates of REST tools, in the subset of Go's `text/template` that Higress's MCP
//! server configurations use: `{{.a.b}}` (a field path from the data; `.` is the data or the
//! element of a `range`), `{{range .list}}…{{else}}…{{end}}`, `{{if .x}}…{{else}}…{{end}}`,
//! `{{toJson .x}}` and `{{gjson "a.b.0"}}` (a path into the data, indices included), with
//! `{{-` and `-}}` trimming the spaces beside an action. Anything else is refused when the
//! configuration is read, naming what is not supported.

use serde_json::Value;

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Node>);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Field(Vec<String>),
    Json(Vec<String>),
    Range {
        path: Vec<String>,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    If {
        path: Vec<String>,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// One `{{ … }}` action, read.
enum Action {
    Field(Vec<String>),
    Json(Vec<String>),
    Range(Vec<String>),
    If(Vec<String>),
    Else,
    End,
}

impl Template {
    /// Compiles `text`; the error says what is wrong and where.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = lex(text)?.into_iter();
        let (nodes, closer) = block(&mut pieces)?;
        match closer {
            None => Ok(Template(nodes)),
            Some(_) => Err("{{else}} or {{end}} without {{range}} or {{if}}".into()),
        }
    }

    /// Renders the template with `data`.
    pub fn render(&self, data: &Value) -> String {
        let mut out = String::new();
        render(&self.0, data, &mut out);
        out
    }
}

enum Piece {
    Text(String),
    Action(Action),
}

fn lex(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let mut before = &rest[..open];
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("an unclosed {{{{ at {:?}", shorten(&rest[open..])))?;
        let mut inner = &after[..close];
        if let Some(trimmed) = inner.strip_prefix('-') {
            before = before.trim_end();
            inner = trimmed;
        }
        let trim_after = inner.ends_with('-');
        if trim_after {
            inner = &inner[..inner.len() - 1];
        }
        if !before.is_empty() {
            pieces.push(Piece::Text(before.to_string()));
        }
        pieces.push(Piece::Action(action(inner.trim())?));
        rest = &after[close + 2..];
        if trim_after {
            rest = rest.trim_start();
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

fn shorten(text: &str) -> &str {
    &text[..text.len().min(30)]
}

fn action(inner: &str) -> Result<Action, String> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    match words.as_slice() {
        ["end"] => Ok(Action::End),
        ["else"] => Ok(Action::Else),
        ["range", path] => Ok(Action::Range(field_path(path)?)),
        ["if", path] => Ok(Action::If(field_path(path)?)),
        ["toJson", path] | ["json", path] => Ok(Action::Json(field_path(path)?)),
        ["gjson", quoted] => {
            let path = quoted
                .strip_prefix('"')
                .and_then(|p| p.strip_suffix('"'))
                .ok_or_else(|| format!("gjson takes a quoted path: {{{{{inner}}}}}"))?;
            Ok(Action::Field(path.split('.').map(str::to_string).collect()))
        }
        [path] if path.starts_with('.') => Ok(Action::Field(field_path(path)?)),
        _ => Err(format!(
            "{{{{{inner}}}}} is not supported: use {{{{.field}}}}, range, if, else, end, toJson or gjson"
        )),
    }
}

fn field_path(text: &str) -> Result<Vec<String>, String> {
    let rest = text
        .strip_prefix('.')
        .ok_or_else(|| format!("{text} is not a field path (it starts with a dot)"))?;
    Ok(rest
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

/// The nodes up to an `{{else}}` or `{{end}}` (which is returned) or the end.
fn block(pieces: &mut impl Iterator<Item = Piece>) -> Result<(Vec<Node>, Option<Action>), String> {
    let mut nodes = Vec::new();
    while let Some(piece) = pieces.next() {
        let action = match piece {
            Piece::Text(text) => {
                nodes.push(Node::Text(text));
                continue;
            }
            Piece::Action(action) => action,
        };
        match action {
            Action::Field(path) => nodes.push(Node::Field(path)),
            Action::Json(path) => nodes.push(Node::Json(path)),
            Action::Range(path) => {
                let (body, otherwise) = branches(pieces, "range")?;
                nodes.push(Node::Range {
                    path,
                    body,
                    otherwise,
                });
            }
            Action::If(path) => {
                let (body, otherwise) = branches(pieces, "if")?;
                nodes.push(Node::If {
                    path,
                    body,
                    otherwise,
                });
            }
            closer @ (Action::Else | Action::End) => return Ok((nodes, Some(closer))),
        }
    }
    Ok((nodes, None))
}

fn branches(
    pieces: &mut impl Iterator<Item = Piece>,
    what: &str,
) -> Result<(Vec<Node>, Vec<Node>), String> {
    let (body, closer) = block(pieces)?;
    match closer {
        Some(Action::End) => Ok((body, Vec::new())),
        Some(Action::Else) => match block(pieces)? {
            (otherwise, Some(Action::End)) => Ok((body, otherwise)),
            _ => Err(format!("{{{{{what}}}}}'s {{{{else}}}} has no {{{{end}}}}")),
        },
        _ => Err(format!("{{{{{what}}}}} has no {{{{end}}}}")),
    }
}

fn lookup<'a>(data: &'a Value, path: &[String]) -> &'a Value {
    let mut value = data;
    for key in path {
        value = match value {
            Value::Object(map) => map.get(key).unwrap_or(&Value::Null),
            Value::Array(items) => key
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
    }
    value
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// A value as Go's templates print it for these data: strings raw, null as nothing.
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render(nodes: &[Node], data: &Value, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Field(path) => out.push_str(&text(lookup(data, path))),
            Node::Json(path) => out.push_str(&lookup(data, path).to_string()),
            Node::Range {
                path,
                body,
                otherwise,
            } => match lookup(data, path) {
                Value::Array(items) if !items.is_empty() => {
                    for item in items {
                        render(body, item, out);
                    }
                }
                Value::Object(map) if !map.is_empty() => {
                    for item in map.values() {
                        render(body, item, out);
                    }
                }
                _ => render(otherwise, data, out),
            },
            Node::If {
                path,
                body,
                otherwise,
            } => {
                let branch = if truthy(lookup(data, path)) {
                    body
                } else {
                    otherwise
                };
                render(branch, data, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered(template: &str, data: Value) -> String {
        Template::parse(template).unwrap().render(&data)
    }

    #[test]
    fn fields_ranges_conditions_and_functions_render() {
        let data = json!({"count": 2, "items": [{"name": "a"}, {"name": "b"}], "args": {"q": "x y"}, "none": []});
        assert_eq!(
            rendered(
                "found {{.count}}:{{range .items}} {{.name}}{{end}}",
                data.clone()
            ),
            "found 2: a b"
        );
        assert_eq!(
            rendered(
                "{{.args.q}}|{{.missing}}|{{gjson \"items.1.name\"}}",
                data.clone()
            ),
            "x y||b"
        );
        assert_eq!(
            rendered("{{range .none}}x{{else}}empty{{end}}", data.clone()),
            "empty"
        );
        assert_eq!(
            rendered("{{if .count}}some{{else}}none{{end}}", data.clone()),
            "some"
        );
        assert_eq!(
            rendered("{{toJson .items}}", data.clone()),
            r#"[{"name":"a"},{"name":"b"}]"#
        );
        assert_eq!(rendered("a  {{- .count -}}  b", data), "a2b");
    }

    #[test]
    fn what_is_not_supported_is_refused_by_name() {
        for (template, says) in [
            ("{{.a", "unclosed"),
            ("{{printf \"%d\" .a}}", "not supported"),
            ("{{range .a}}x", "has no {{end}}"),
            ("x{{end}}", "without"),
        ] {
            let error = Template::parse(template).unwrap_err();
            assert!(error.contains(says), "{template}: {error}");
        }
    }
}
