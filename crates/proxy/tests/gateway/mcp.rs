//! MCP servers through the gateway, with the official MCP Python SDK as the client over
//! streamable HTTP: on wasm-go's `pkg/mcp` (the `mcp-server` Go example), a tool written in
//! Go and REST APIs as tools from configuration alone, whose calls reach a local REST
//! service with wasm-go's `RouteCall` and come back through the response phases (Higress's
//! `StopIteration` from response headers under `0_2_100`: the body reaches the plugin); on
//! wasmgate-sdk's `mcp` module (the `mcp-calculator` Rust example), typed tools, a JSON
//! result, an error result and an async tool that calls a service.

use crate::common::{run_python, start, tempdir, Config, PythonServer};
use wasmgate_testkit::examples::{example, Lang};

const CATALOGUE: &str = include_str!("python/rest_catalogue.py");
const CLIENT: &str = include_str!("python/mcp_client.py");
const UPSTREAM: &str = include_str!("python/mcp_upstream.py");

/// The `catalogue` server: REST tools, as a Higress `mcp-server` config has them.
fn rest_tools() -> serde_json::Value {
    serde_json::json!({
        "server": {"name": "catalogue"},
        "tools": [
            {
                "name": "search-items",
                "description": "Search the catalogue by name prefix",
                "args": [{"name": "q", "description": "the name prefix", "type": "string", "required": true}],
                "requestTemplate": {"url": "http://catalogue.test/items?q={{.args.q}}", "method": "GET"},
                "responseTemplate": {"body": "found {{.count}}:{{range .items}} {{.name}}{{end}}"}
            },
            {
                "name": "create-item",
                "description": "Add an item",
                "args": [
                    {"name": "name", "type": "string", "required": true},
                    {"name": "price", "type": "number"}
                ],
                "requestTemplate": {"url": "http://catalogue.test/items", "method": "POST", "argsToJsonBody": true},
                "responseTemplate": {"body": "created {{.id}} at {{.received.price}}"}
            }
        ]
    })
}

fn report(url: &str, calls: &[&str]) -> serde_json::Value {
    let mut args = vec![url];
    args.extend_from_slice(calls);
    let out = run_python(CLIENT, &args);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn the_mcp_client_lists_and_calls_go_and_rest_tools() {
    let catalogue = PythonServer::start(CATALOGUE, &[]);
    let rules = serde_json::json!([
        {"routes": ["mcp-go"], "config": {"server": {"name": "wasmgate-demo"}}},
        {"routes": ["mcp-rest"], "config": rest_tools()},
    ]);
    let rules = format!("rules: {rules}");
    let config = Config::new()
        .cluster("catalogue", catalogue.address, &[])
        .route("mcp-go", "catalogue", &["path_prefix: /mcp-go"])
        .route("mcp-rest", "catalogue", &["path_prefix: /mcp-rest"])
        .plugin("mcp-server", example(Lang::Go, "mcp-server"), &[&rules]);
    let gateway = start(&config, &tempdir("mcp"));
    let base = format!("http://{}", gateway.address);

    let go = report(&format!("{base}/mcp-go"), &["add", r#"{"a": 2, "b": 40}"#]);
    assert_eq!(go["server"], "wasmgate-demo", "{go}");
    let schema = &go["tools"]["add"];
    assert_eq!(schema["properties"]["a"]["type"], "integer", "{go}");
    assert_eq!(schema["required"], serde_json::json!(["a", "b"]), "{go}");
    assert_eq!(go["calls"][0]["text"], "42", "{go}");
    assert_eq!(go["calls"][0]["error"], false, "{go}");

    let rest = report(
        &format!("{base}/mcp-rest"),
        &[
            "search-items",
            r#"{"q": "ap"}"#,
            "create-item",
            r#"{"name": "kiwi", "price": 4}"#,
            "create-item",
            r#"{"price": 1}"#,
        ],
    );
    assert_eq!(rest["server"], "catalogue", "{rest}");
    assert_eq!(
        rest["tools"]["search-items"]["required"],
        serde_json::json!(["q"])
    );
    let calls = rest["calls"].as_array().unwrap();
    assert_eq!(
        calls[0]["text"], "found 2: apple apricot",
        "a GET with the query: {rest}"
    );
    assert_eq!(
        calls[1]["text"], "created item-kiwi at 4",
        "a POST of the arguments: {rest}"
    );
    assert_eq!(
        calls[2]["error"], true,
        "the service's 400 is an error result: {rest}"
    );
    assert!(calls[2]["text"].as_str().unwrap().contains("400"), "{rest}");
}

#[test]
fn the_mcp_client_lists_and_calls_the_tools_of_a_rust_server() {
    let weather = PythonServer::start(CATALOGUE, &[]);
    let config = Config::new()
        .cluster("outbound|80||weather.static", weather.address, &[])
        .route("mcp", "outbound|80||weather.static", &["path_prefix: /mcp"])
        .plugin("calculator", example(Lang::Rust, "mcp-calculator"), &[]);
    let gateway = start(&config, &tempdir("mcp-rust"));
    let url = format!("http://{}/mcp", gateway.address);
    let report = report(
        &url,
        &[
            "add",
            r#"{"a": 2, "b": 40}"#,
            "divide",
            r#"{"dividend": 7, "divisor": 2}"#,
            "divide",
            r#"{"dividend": 7, "divisor": 0}"#,
            "weather",
            r#"{"city": "Lisbon"}"#,
            "weather",
            r#"{"city": "Atlantis"}"#,
            "add",
            r#"{"a": "two"}"#,
        ],
    );
    assert_eq!(report["server"], "calculator", "{report}");
    let add = &report["tools"]["add"];
    assert_eq!(add["properties"]["a"]["type"], "integer", "{report}");
    assert_eq!(add["properties"]["a"]["description"], "The first addend.");
    assert_eq!(add["required"], serde_json::json!(["a", "b"]));
    let calls = report["calls"].as_array().unwrap();
    let texts: Vec<&str> = calls.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let errors: Vec<bool> = calls
        .iter()
        .map(|c| c["error"].as_bool().unwrap())
        .collect();
    assert_eq!(texts[0], "42", "{report}");
    assert_eq!(texts[1], r#"{"quotient":3.5}"#, "{report}");
    assert_eq!((texts[2], errors[2]), ("cannot divide by zero", true));
    assert_eq!(
        (texts[3], errors[3]),
        ("sunny in Lisbon", false),
        "the async tool's call"
    );
    assert!(errors[4], "{report}");
    assert!(texts[4].contains("404"), "{report}");
    assert!(errors[5], "arguments that do not fit the type: {report}");
    assert_eq!(errors[..2], [false, false]);
}

#[test]
fn rest_tools_from_configuration_answer_alike_in_go_and_in_rust() {
    // The same Higress `mcp-server` configuration of REST tools, served by the Rust server's
    // `McpConfig` and by wasm-go's REST-to-MCP server, gives the same answers.
    let catalogue = PythonServer::start(CATALOGUE, &[]);
    let calls = [
        "search-items",
        r#"{"q": "ap"}"#,
        "create-item",
        r#"{"name": "kiwi", "price": 4}"#,
        "create-item",
        r#"{"price": 1}"#,
    ];
    let mut answers = Vec::new();
    for (lang, plugin) in [(Lang::Rust, "mcp-calculator"), (Lang::Go, "mcp-server")] {
        let rules = format!(
            "rules: {}",
            serde_json::json!([{"routes": ["mcp"], "config": rest_tools()}])
        );
        let config = Config::new()
            .cluster("catalogue", catalogue.address, &[])
            .route("mcp", "catalogue", &["path_prefix: /mcp"])
            .plugin("mcp", example(lang, plugin), &[&rules]);
        let gateway = start(&config, &tempdir("mcp-rest"));
        let report = report(&format!("http://{}/mcp", gateway.address), &calls);
        let schema = report["tools"]["search-items"].clone();
        assert_eq!(
            schema["required"],
            serde_json::json!(["q"]),
            "{plugin}: {report}"
        );
        assert_eq!(
            schema["properties"]["q"]["type"], "string",
            "{plugin}: {report}"
        );
        answers.push(report["calls"].clone());
    }
    let rust = answers[0].as_array().unwrap();
    assert_eq!(rust[0]["text"], "found 2: apple apricot", "{rust:?}");
    assert_eq!(rust[1]["text"], "created item-kiwi at 4", "{rust:?}");
    assert_eq!(
        rust[..2],
        answers[1].as_array().unwrap()[..2],
        "Rust and Go answer alike"
    );
    // A missing required argument: wasm-go calls the API (which refuses it), the Rust
    // server refuses it without calling; both are error results.
    assert_eq!(
        rust[2]["text"], "missing required argument name",
        "{rust:?}"
    );
    assert_eq!(answers[1][2]["error"], true, "{:?}", answers[1]);
}

#[test]
fn a_filter_in_front_hides_refuses_and_redacts() {
    // The Rust `mcp-guard` (wasmgate-sdk's `McpFilter`) in front of wasm-go's REST server.
    let catalogue = PythonServer::start(CATALOGUE, &[]);
    let mut tools = rest_tools();
    tools["tools"][1]["responseTemplate"]["body"] =
        serde_json::json!("created {{.id}} secret={{.received.secret}}");
    let rules = format!(
        "rules: {}",
        serde_json::json!([{"routes": ["mcp"], "config": tools}])
    );
    let config = Config::new()
        .cluster("catalogue", catalogue.address, &[])
        .route("mcp", "catalogue", &["path_prefix: /mcp"])
        .plugin(
            "guard",
            example(Lang::Rust, "mcp-guard"),
            &[r#"config: {denyTools: [search-items], redactArguments: [secret]}"#],
        )
        .plugin("mcp-server", example(Lang::Go, "mcp-server"), &[&rules]);
    let gateway = start(&config, &tempdir("mcp-guard"));
    let report = report(
        &format!("http://{}/mcp", gateway.address),
        &[
            "search-items",
            r#"{"q": "ap"}"#,
            "create-item",
            r#"{"name": "kiwi", "price": 4, "secret": "s3cret"}"#,
        ],
    );
    let tools: Vec<&String> = report["tools"].as_object().unwrap().keys().collect();
    assert_eq!(
        tools,
        ["create-item"],
        "the denied tool is not listed: {report}"
    );
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(calls[0]["error"], true, "{report}");
    assert!(
        calls[0]["rpc_error"]
            .as_str()
            .unwrap()
            .contains("not allowed"),
        "refused by the filter with a JSON-RPC error: {report}"
    );
    let created = calls[1]["text"].as_str().unwrap();
    assert!(created.starts_with("created item-kiwi"), "{report}");
    assert!(
        !created.contains("s3cret"),
        "the secret never reached the service: {report}"
    );
}

#[test]
fn an_upstream_mcp_server_s_tools_are_offered_beside_the_own() {
    // The Rust server in `mcp-proxy` mode in front of an MCP server on the official Python
    // SDK (SSE answers, sessions): its tools are listed beside the Rust ones and called there.
    let upstream = PythonServer::start(UPSTREAM, &[]);
    let server = serde_json::json!({
        "server": {"type": "mcp-proxy", "mcpServerURL": format!("http://{}/mcp", upstream.address)}
    });
    let config = Config::new()
        .cluster("upstream-mcp", upstream.address, &[])
        .route("mcp", "upstream-mcp", &["path_prefix: /mcp"])
        .plugin(
            "calculator",
            example(Lang::Rust, "mcp-calculator"),
            &[&format!("config: {server}")],
        );
    let gateway = start(&config, &tempdir("mcp-proxy"));
    let report = report(
        &format!("http://{}/mcp", gateway.address),
        &[
            "shout",
            r#"{"text": "through the gateway"}"#,
            "add",
            r#"{"a": 1, "b": 2}"#,
            "count_words",
            r#"{"text": "one two three"}"#,
        ],
    );
    let mut tools: Vec<&String> = report["tools"].as_object().unwrap().keys().collect();
    tools.sort();
    assert_eq!(
        tools,
        ["add", "count_words", "divide", "shout", "weather"],
        "{report}"
    );
    assert_eq!(
        report["tools"]["shout"]["properties"]["text"]["type"], "string",
        "{report}"
    );
    let calls = report["calls"].as_array().unwrap();
    assert_eq!(
        calls[0]["text"], "THROUGH THE GATEWAY",
        "the upstream's tool: {report}"
    );
    assert_eq!(calls[1]["text"], "3", "the own tool: {report}");
    assert_eq!(calls[2]["text"], "3", "{report}");
    assert!(calls.iter().all(|c| c["error"] == false), "{report}");
}

#[test]
fn the_transport_answers_batches_event_stream_clients_and_ends_sessions() {
    use crate::common::Client;
    let config = Config::new()
        .cluster("none", crate::common::dead_address(), &[])
        .route("mcp", "none", &[])
        .plugin("calculator", example(Lang::Rust, "mcp-calculator"), &[]);
    let gateway = start(&config, &tempdir("mcp-transport"));
    let json = [("content-type", "application/json")];
    let post = |headers: &[(&str, &str)], body: &str| {
        gateway.request("POST", "/mcp", headers, body.as_bytes())
    };
    // A batch gets an array of answers, in order; its notification none.
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":1}}}]"#;
    let answer: serde_json::Value = serde_json::from_str(&post(&json, batch).text()).unwrap();
    assert_eq!(answer.as_array().map(Vec::len), Some(2), "{answer}");
    assert_eq!(answer[0]["id"], 1);
    assert_eq!(answer[1]["result"]["content"][0]["text"], "2", "{answer}");
    // A client that takes only event streams gets the answer as one event.
    let sse_only = [
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
    ];
    let response = post(&sse_only, r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert!(
        response.text().starts_with("event: message\ndata: {"),
        "{}",
        response.text()
    );
    // A session starts with initialize, is known, ends with DELETE, and is then unknown.
    let init = r#"{"jsonrpc":"2.0","id":4,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}"#;
    let response = post(&json, init);
    assert!(
        response
            .text()
            .contains(r#""protocolVersion":"2025-03-26""#),
        "{}",
        response.text()
    );
    let session = response
        .header("mcp-session-id")
        .expect("a session id")
        .to_string();
    let in_session = [
        ("content-type", "application/json"),
        ("mcp-session-id", session.as_str()),
    ];
    assert_eq!(
        post(&in_session, r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#).status,
        200
    );
    let ended = gateway.request(
        "DELETE",
        "/mcp",
        &[("mcp-session-id", session.as_str())],
        b"",
    );
    assert_eq!(ended.status, 200);
    assert_eq!(
        post(&in_session, r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#).status,
        404
    );
    // An unsupported protocol version header is refused.
    let old = [
        ("content-type", "application/json"),
        ("mcp-protocol-version", "2023-01-01"),
    ];
    assert_eq!(
        post(&old, r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#).status,
        400
    );
}
