//! What legitimately differs between Envoy and wasmgate, in one place, each with its reason,
//! and the comparison that leaves it out. `docs/conformance.md` repeats this list.

use serde_json::Value;

use crate::client::{shorten, Response};

fn short_json(value: &Value) -> String {
    match value {
        Value::String(text) => shorten(text.as_bytes()),
        other => other.to_string(),
    }
}

/// Headers of the client's answer left out of the comparison.
pub const IGNORED_RESPONSE_HEADERS: &[(&str, &str)] = &[
    ("date", "the time of the answer: both hosts set it"),
    (
        "server",
        "the host's name (`envoy`); wasmgate names itself or sets none",
    ),
    (
        "x-envoy-upstream-service-time",
        "Envoy's own timing header, not plugin behaviour",
    ),
    (
        "connection",
        "hop-by-hop: how each host confirms it closes after the client's `Connection: close`",
    ),
];

/// Headers the upstream received (from the echo JSON) left out of the comparison.
pub const IGNORED_UPSTREAM_HEADERS: &[(&str, &str)] = &[
    (
        "x-request-id",
        "both hosts generate a random one per request",
    ),
    (
        "x-envoy-expected-rq-timeout-ms",
        "Envoy tells the upstream its route timeout; not plugin behaviour",
    ),
    (
        "x-envoy-internal",
        "Envoy marks requests from internal addresses; not plugin behaviour",
    ),
];

/// Framing headers of the client's answer, compared only when neither side streamed its body
/// (either host may stream a body that a plugin changed, and then `content-length` is
/// replaced by chunking, or over HTTP/2 left out) and the body is not the echo upstream's report (whose length
/// depends on the ignored upstream headers it lists; the report itself is compared).
pub const FRAMING_HEADERS: &[&str] = &["content-length", "transfer-encoding"];

/// Header values (of either side) whose variable part is masked, with the reason.
pub const MASKED_VALUES: &[(&str, &str)] = &[
    (
        "x-prop-source.address",
        "abi-probe's `source.address`: the port is the client's ephemeral port, masked to `:PORT`",
    ),
    (
        "x-prop-x_request_id",
        "abi-probe's `x_request_id`: random per request, masked to `<id>` when present",
    ),
    (
        "x-callout-body",
        "abi-probe's copy of the echo upstream's report of a callout: the headers ignored \
         above are removed from it",
    ),
    (
        "x-ticks",
        "abi-probe's count of 100 ms ticks (in shared data): it depends on time, and it grows \
         about twice as fast in Envoy, whose plugin ticks in more than one root context with \
         --concurrency 1; only whether it ticked (`ticked`) is compared",
    ),
];

fn mask(name: &str, value: &str) -> String {
    match name {
        "x-prop-source.address" => match value.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
                format!("{host}:PORT")
            }
            _ => value.to_string(),
        },
        "x-prop-x_request_id" if value != "<missing>" && !value.is_empty() => "<id>".into(),
        "x-ticks" if value.parse::<u64>().is_ok_and(|ticks| ticks > 0) => "ticked".into(),
        "x-callout-body" => match echoed_bytes(value.as_bytes()) {
            Some(report) => format!(
                "{} {} {} {:?}",
                report.method,
                report.path,
                report.body,
                comparable(&report.headers, IGNORED_UPSTREAM_HEADERS, true)
            ),
            None => value.to_string(),
        },
        _ => value.to_string(),
    }
}

/// A plugin log line made comparable: UUIDs (request ids, Higress callout ids) masked to
/// `<uuid>`, and an echo upstream report in it (e.g. a logged callout body) reduced as
/// `x-callout-body` is (the ignored upstream headers removed).
pub fn mask_log_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if let Some(rest) = line.get(i..) {
            if rest.starts_with("{\"body\":") {
                if let Some(report) = echoed_bytes(rest.as_bytes()) {
                    out.push_str(&mask("x-callout-body", rest));
                    out.push_str(&String::from_utf8_lossy(&report.rest));
                    return out;
                }
            }
            if is_uuid(rest) {
                out.push_str("<uuid>");
                i += 36;
                continue;
            }
        }
        let ch = line[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn is_uuid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 36
        && b[..36].iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn chunked(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"))
}

/// An answer whose body was streamed: chunked (HTTP/1.1), or without `content-length` (an
/// HTTP/2 body in frames of unknown total length).
fn streamed(headers: &[(String, String)]) -> bool {
    chunked(headers) || !headers.iter().any(|(n, _)| n == "content-length")
}

/// The headers to compare: ignored ones and (when either side is chunked) framing ones
/// removed, values masked, sorted by name (the relative order of one name's values kept).
fn comparable(
    headers: &[(String, String)],
    ignored: &[(&str, &str)],
    drop_framing: bool,
) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| !ignored.iter().any(|(i, _)| i == n))
        .filter(|(n, _)| !(drop_framing && FRAMING_HEADERS.contains(&n.as_str())))
        .map(|(n, v)| (n.clone(), mask(n, v)))
        .collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    kept
}

fn diff_headers(
    what: &str,
    envoy: &[(String, String)],
    wasmgate: &[(String, String)],
    out: &mut Vec<String>,
) {
    if envoy == wasmgate {
        return;
    }
    let only = |a: &[(String, String)], b: &[(String, String)]| {
        a.iter()
            .filter(|h| !b.contains(h))
            .map(|(n, v)| format!("{n}: {v}"))
            .collect::<Vec<_>>()
    };
    let (e, w) = (only(envoy, wasmgate), only(wasmgate, envoy));
    if e.is_empty() && w.is_empty() {
        out.push(format!(
            "{what}: same headers, different repetition or order"
        ));
    } else {
        out.push(format!(
            "{what}: only in Envoy {e:?}, only in wasmgate {w:?}"
        ));
    }
}

/// The echo upstream's JSON report, when the body starts with one (a plugin may have
/// appended to it: `rest`; in a client body, also prepended: `before`).
struct Echoed {
    method: Value,
    path: Value,
    body: Value,
    headers: Vec<(String, String)>,
    before: Vec<u8>,
    rest: Vec<u8>,
}

/// The report in a client body, after whatever a plugin put before it (up to its first `{`).
fn echoed(response: &Response) -> Option<Echoed> {
    let start = response.body.iter().position(|b| *b == b'{')?;
    let mut report = echoed_bytes(&response.body[start..])?;
    report.before = response.body[..start].to_vec();
    Some(report)
}

fn echoed_bytes(bytes: &[u8]) -> Option<Echoed> {
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    let json = stream.next()?.ok()?;
    let rest = bytes[stream.byte_offset()..].to_vec();
    let object = json.as_object()?;
    let headers = object
        .get("headers")?
        .as_object()?
        .iter()
        .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    Some(Echoed {
        method: object.get("method")?.clone(),
        path: object.get("path")?.clone(),
        body: object.get("body")?.clone(),
        headers,
        before: Vec::new(),
        rest,
    })
}

/// The differences between Envoy's and wasmgate's answers to one request, one line each.
/// `head`: the request was a HEAD (the answer's `content-length` is then the length of a
/// report that was not sent, so it is not compared). `also_ignored`: upstream headers a case
/// expects to differ (see [`crate::Expect::Different`]).
pub fn compare(
    head: bool,
    envoy: &Response,
    wasmgate: &Response,
    also_ignored: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    if envoy.interim != wasmgate.interim {
        out.push(format!(
            "interim statuses: Envoy {:?}, wasmgate {:?}",
            envoy.interim, wasmgate.interim
        ));
    }
    if envoy.status != wasmgate.status {
        out.push(format!(
            "status: Envoy {}, wasmgate {}",
            envoy.status, wasmgate.status
        ));
    }
    let (echo_envoy, echo_wasmgate) = (echoed(envoy), echoed(wasmgate));
    // An echo report's length depends on the ignored upstream headers it lists.
    let drop_framing = head
        || streamed(&envoy.headers)
        || streamed(&wasmgate.headers)
        || (echo_envoy.is_some() && echo_wasmgate.is_some());
    let client = |headers: &[(String, String)]| -> Vec<(String, String)> {
        comparable(headers, IGNORED_RESPONSE_HEADERS, drop_framing)
            .into_iter()
            .filter(|(n, _)| !also_ignored.contains(&n.as_str()))
            .collect()
    };
    diff_headers(
        "client response headers",
        &client(&envoy.headers),
        &client(&wasmgate.headers),
        &mut out,
    );
    match (echo_envoy, echo_wasmgate) {
        (Some(e), Some(w)) => {
            for (what, a, b) in [
                ("upstream method", &e.method, &w.method),
                ("upstream path", &e.path, &w.path),
                ("upstream body", &e.body, &w.body),
            ] {
                if a != b {
                    let (a, b) = (short_json(a), short_json(b));
                    out.push(format!("{what}: Envoy {a}, wasmgate {b}"));
                }
            }
            if e.before != w.before {
                out.push(format!(
                    "client body before the echo report: Envoy {:?}, wasmgate {:?}",
                    String::from_utf8_lossy(&e.before),
                    String::from_utf8_lossy(&w.before)
                ));
            }
            if e.rest != w.rest {
                out.push(format!(
                    "client body after the echo report: Envoy {:?}, wasmgate {:?}",
                    String::from_utf8_lossy(&e.rest),
                    String::from_utf8_lossy(&w.rest)
                ));
            }
            let drop_framing = chunked(&e.headers) || chunked(&w.headers);
            let leave_out = |headers: Vec<(String, String)>| -> Vec<(String, String)> {
                headers
                    .into_iter()
                    .filter(|(n, _)| !also_ignored.contains(&n.as_str()))
                    .collect()
            };
            diff_headers(
                "upstream request headers",
                &leave_out(comparable(
                    &e.headers,
                    IGNORED_UPSTREAM_HEADERS,
                    drop_framing,
                )),
                &leave_out(comparable(
                    &w.headers,
                    IGNORED_UPSTREAM_HEADERS,
                    drop_framing,
                )),
                &mut out,
            );
        }
        _ => {
            if envoy.body != wasmgate.body {
                out.push(format!(
                    "client body: Envoy {}, wasmgate {}",
                    shorten(&envoy.body),
                    shorten(&wasmgate.body)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            interim: Vec::new(),
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn ignored_headers_and_masked_values_do_not_count() {
        let e = response(
            &[("date", "1"), ("server", "envoy"), ("x-a", "1")],
            r#"{"method":"GET","path":"/","body":"","headers":{"x-request-id":"a","x-prop-source.address":"127.0.0.1:5000"}}"#,
        );
        let w = response(
            &[("x-a", "1"), ("date", "2")],
            r#"{"method":"GET","path":"/","body":"","headers":{"x-request-id":"b","x-prop-source.address":"127.0.0.1:6000"}}"#,
        );
        assert_eq!(compare(false, &e, &w, &[]), Vec::<String>::new());
    }

    #[test]
    fn real_differences_are_reported() {
        let e = response(
            &[("x-a", "1")],
            r#"{"method":"GET","path":"/","body":"","headers":{"hello":"world"}}"#,
        );
        let w = response(
            &[("x-a", "2")],
            r#"{"method":"GET","path":"/","body":"","headers":{}}"#,
        );
        let differences = compare(false, &e, &w, &[]);
        assert_eq!(differences.len(), 2, "{differences:?}");
        let chunked_e = response(&[("transfer-encoding", "chunked")], "x");
        let sized_w = response(&[("content-length", "1")], "x");
        assert!(compare(false, &chunked_e, &sized_w, &[]).is_empty());
        assert_eq!(
            compare(false, &chunked_e, &response(&[], "y"), &[]).len(),
            1
        );
    }

    #[test]
    fn text_around_an_echo_report_is_compared_and_the_report_masked() {
        let report = |id: &str| {
            format!(
                r#"{{"method":"GET","path":"/","body":"","headers":{{"x-request-id":"{id}"}}}}"#
            )
        };
        let e = response(&[], &format!("[{}]|end", report("a")));
        let w = response(&[], &format!("[{}]|end", report("b")));
        assert_eq!(compare(false, &e, &w, &[]), Vec::<String>::new());
        let other = response(&[], &format!("<{}]|end", report("b")));
        assert_eq!(compare(false, &e, &other, &[]).len(), 1);
    }

    #[test]
    fn also_ignored_names_leave_out_client_headers_too() {
        let e = response(&[("x-late", "1"), ("x-a", "1")], "x");
        let w = response(&[("x-late", "2"), ("x-a", "1")], "x");
        assert_eq!(compare(false, &e, &w, &[]).len(), 1);
        assert!(compare(false, &e, &w, &["x-late"]).is_empty());
    }
}
