//! The plugin's tests. `cargo test` builds the plugin for wasm32-wasip1 (as `wasmgate build`
//! does) and runs it in-process with wasmgate-testkit: each test POSTs JSON-RPC messages as
//! an MCP client does (streamable HTTP), answers the calls the plugin makes and checks its
//! answers.

use serde_json::{json, Value};
use wasmgate_testkit::{build, HttpCalloutResponse, StreamState, TestHost};

fn start() -> TestHost {
    let wasm = build::rust_plugin(env!("CARGO_MANIFEST_DIR")).expect("the plugin builds");
    TestHost::builder(wasm)
        .config_json("{}")
        .start()
        .expect("the plugin starts")
}

/// POSTs `message` (with `headers`); the plugin's answer: status, headers, JSON body.
fn post(host: &mut TestHost, message: &Value, headers: &[(&str, &str)]) -> (u32, TestAnswer) {
    let mut all = vec![
        (":method", "POST"),
        (":path", "/mcp"),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    all.extend_from_slice(headers);
    host.complete().unwrap();
    let state = host.request_headers(&all, false).unwrap();
    // A request the plugin answered at its headers sends no body (as in the gateway).
    if !matches!(state, StreamState::Replied(_)) {
        host.request_body(message.to_string().as_bytes(), true)
            .unwrap();
    }
    reply_of(host)
}

struct TestAnswer {
    session: Option<String>,
    body: Value,
}

fn reply_of(host: &mut TestHost) -> (u32, TestAnswer) {
    let reply = host.local_reply().expect("the plugin answers");
    let session = reply
        .headers
        .get_str("mcp-session-id")
        .map(str::to_string);
    let body = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    (reply.status, TestAnswer { session, body })
}

fn call(name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

#[test]
fn initializes_lists_and_calls_tools() {
    let mut host = start();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}}});
    let (status, answer) = post(&mut host, &initialize, &[]);
    assert_eq!(status, 200);
    assert_eq!(answer.body["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(answer.body["result"]["serverInfo"]["name"], "calculator");
    let session = answer.session.expect("a session id");
    let in_session = [("mcp-session-id", session.as_str())];
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _) = post(&mut host, &initialized, &in_session);
    assert_eq!(status, 202, "a notification is only accepted");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let (_, answer) = post(&mut host, &list, &in_session);
    let tools = answer.body["result"]["tools"].as_array().unwrap().clone();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["add", "divide", "weather"]);
    assert_eq!(tools[0]["inputSchema"]["required"], json!(["a", "b"]));
    let (_, answer) = post(&mut host, &call("add", json!({"a": 2, "b": 3})), &in_session);
    assert_eq!(answer.body["result"]["content"][0]["text"], "5");
    let (_, answer) = post(&mut host, &call("divide", json!({"dividend": 1, "divisor": 0})), &in_session);
    assert_eq!(answer.body["result"]["isError"], true);
}

#[test]
fn an_async_tool_answers_after_its_call() {
    let mut host = start();
    host.complete().unwrap();
    host.request_headers(
        &[(":method", "POST"), (":path", "/mcp"), ("content-type", "application/json")],
        false,
    )
    .unwrap();
    let message = call("weather", json!({"city": "Lisbon"})).to_string();
    host.request_body(message.as_bytes(), true).unwrap();
    let calls = host.http_callouts();
    assert_eq!(calls[0].upstream, "outbound|80||weather.static");
    assert_eq!(calls[0].header(":path"), Some("/weather?city=Lisbon"));
    let sunny = HttpCalloutResponse::new(200, &[], "sunny");
    host.answer_http(calls[0].token, Some(sunny)).unwrap();
    let (status, answer) = reply_of(&mut host);
    assert_eq!(status, 200);
    assert_eq!(answer.body["result"]["content"][0]["text"], "sunny");
}

#[test]
fn the_transport_refuses_what_it_does_not_serve() {
    let mut host = start();
    host.request_headers(&[(":method", "PUT"), (":path", "/mcp")], true)
        .unwrap();
    assert_eq!(host.local_reply().unwrap().status, 405, "not an MCP method");
    host.complete().unwrap();
    host.request_headers(&[(":method", "GET"), (":path", "/mcp")], true)
        .unwrap();
    assert_eq!(host.local_reply().unwrap().status, 400, "a server stream needs a session");
    host.complete().unwrap();
    let ping = json!({"jsonrpc": "2.0", "id": 9, "method": "ping"});
    let (status, _) = post(&mut host, &ping, &[("mcp-session-id", "no-such-session")]);
    assert_eq!(status, 404, "an unknown session");
    let (status, answer) = post(&mut host, &json!({"jsonrpc": "2.0", "id": 1, "method": "nope"}), &[]);
    assert_eq!((status, answer.body["error"]["code"].clone()), (200, json!(-32601)));
    host.complete().unwrap();
    host.request_headers(&[(":method", "POST"), (":path", "/mcp")], false)
        .unwrap();
    host.request_body(b"{not json", true).unwrap();
    let (status, answer) = reply_of(&mut host);
    assert_eq!((status, answer.body["error"]["code"].clone()), (400, json!(-32700)));
}
