//! MCP's server-to-client streams through the gateway, on wasmgate-sdk's `mcp` module (the
//! `mcp-calculator` Rust example) and the gateway's open responses, with the official MCP
//! Python SDK's clients: the older HTTP+SSE transport (`sse_client`: the `endpoint` event,
//! every answer on the stream, the session's end when the client leaves) and streamable
//! HTTP's `GET` stream carrying a tool's log notification.

use crate::common::{run_python, start, tempdir, Config, PythonServer, Running};
use wasmgate_testkit::examples::{example, Lang};

const WEATHER: &str = include_str!("python/rest_catalogue.py");
const CLIENT: &str = include_str!("python/mcp_streams.py");

fn calculator(weather: &PythonServer) -> Running {
    let config = Config::new()
        .cluster("outbound|80||weather.static", weather.address, &[])
        .route("mcp", "outbound|80||weather.static", &["path_prefix: /"])
        .plugin("calculator", example(Lang::Rust, "mcp-calculator"), &[]);
    start(&config, &tempdir("mcp-streams"))
}

fn report(args: &[&str]) -> serde_json::Value {
    let out = run_python(CLIENT, args);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn the_sse_client_gets_every_answer_on_its_stream() {
    let weather = PythonServer::start(WEATHER, &[]);
    let gateway = calculator(&weather);
    let url = format!("http://{}/sse", gateway.address);
    let report = report(&[
        "sse",
        &url,
        "add",
        r#"{"a": 2, "b": 40}"#,
        "weather",
        r#"{"city": "Lisbon"}"#,
        "divide",
        r#"{"dividend": 1, "divisor": 0}"#,
    ]);
    assert_eq!(report["server"], "calculator", "{report}");
    assert_eq!(
        report["tools"],
        serde_json::json!(["add", "divide", "weather"]),
        "{report}"
    );
    let calls = &report["calls"];
    assert_eq!(calls[0]["text"], "42", "{report}");
    assert_eq!(
        (&calls[1]["text"], &calls[1]["error"]),
        (
            &serde_json::json!("sunny in Lisbon"),
            &serde_json::json!(false)
        ),
        "the tool that calls a REST service: {report}"
    );
    assert_eq!(
        (&calls[2]["text"], &calls[2]["error"]),
        (
            &serde_json::json!("cannot divide by zero"),
            &serde_json::json!(true)
        ),
        "an error result: {report}"
    );
    assert_eq!(
        report["after_close"], 404,
        "the session ended with its stream: {report}"
    );
}

#[test]
fn the_streamable_http_client_s_get_stream_carries_a_tool_s_log() {
    let weather = PythonServer::start(WEATHER, &[]);
    let gateway = calculator(&weather);
    let url = format!("http://{}/mcp", gateway.address);
    let report = report(&["get", &url, "weather", r#"{"city": "Lisbon"}"#]);
    assert_eq!(report["stream_status"], 200, "{report}");
    assert_eq!(report["stream_type"], "text/event-stream", "{report}");
    assert_eq!(report["call"], "sunny in Lisbon", "{report}");
    assert_eq!(
        report["logs"],
        serde_json::json!([{"level": "info", "logger": "weather", "data": "asking about Lisbon"}]),
        "the notification came on the GET stream: {report}"
    );
}
