//! Server-Sent Events through a chain of two plugins (`ai-token-usage` reading the stream,
//! in Go on wasm-go's `tokenusage` and in Rust on wasmgate-sdk's `ai` helpers, then the Rust
//! `minimal`): each event reaches the client before the upstream sends the next one (the
//! upstream waits for the client to have seen it), an event split across chunks arrives
//! whole, and the JSON access log carries the token usage under `ai_log`, as Higress writes
//! it.

#[path = "gateway/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use common::log::captured as log;
use common::{start, tempdir, wait_for_line, Config};
use wasmgate_testkit::examples::{example, Lang};

/// The chunks the upstream sends, one at a time; the usage event is split in two.
const CHUNKS: [&str; 5] = [
    "data: {\"id\":\"c1\",\"model\":\"gpt-test\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-test\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"gpt-test\",\"choices\":[],\"usa",
    "ge\":{\"prompt_tokens\":7,\"completion_tokens\":5,\"total_tokens\":12}}\n\n",
    "data: [DONE]\n\n",
];

/// An upstream that answers one request with `CHUNKS` as a chunked event stream, sending
/// each chunk only once the test says the client saw the one before.
fn sse_upstream(client_saw: mpsc::Receiver<()>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut stream = stream;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            .unwrap();
        for (n, chunk) in CHUNKS.iter().enumerate() {
            if n > 0 && n != 3 {
                // Wait for the client to have the event before (the split one's first half
                // cannot be seen alone: it is not a whole event yet).
                if client_saw.recv_timeout(Duration::from_secs(20)).is_err() {
                    return;
                }
            }
            write!(stream, "{:x}\r\n{chunk}\r\n", chunk.len()).unwrap();
            stream.flush().unwrap();
        }
        stream.write_all(b"0\r\n\r\n").unwrap();
    });
    address
}

#[test]
fn events_arrive_as_sent_and_the_access_log_has_the_token_usage_go() {
    events_arrive_as_sent(Lang::Go, "rid-sse-go");
}

#[test]
fn events_arrive_as_sent_and_the_access_log_has_the_token_usage_rust() {
    events_arrive_as_sent(Lang::Rust, "rid-sse-rust");
}

fn events_arrive_as_sent(lang: Lang, request_id: &str) {
    let log = log();
    let (saw, client_saw) = mpsc::channel();
    let upstream = sse_upstream(client_saw);
    let config = Config::new()
        .setting("access_log: json")
        .cluster("llm", upstream, &[])
        .route("chat", "llm", &[])
        .plugin("ai-token-usage", example(lang, "ai-token-usage"), &[])
        .plugin("minimal", example(Lang::Rust, "minimal"), &[]);
    let gateway = start(&config, &tempdir("sse"));
    let body = r#"{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut client = TcpStream::connect(gateway.address).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        client,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: llm.test\r\nx-request-id: {request_id}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Each event must reach the client while the upstream still holds back the next.
    let mut seen = Vec::new();
    let events = ["\"Hel\"", "\"lo\"", "\"total_tokens\":12}}\n\n", "[DONE]"];
    for (n, event) in events.iter().enumerate() {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains(event) {
            let read = client.read(&mut buf).unwrap_or_else(|e| {
                panic!(
                    "event {n} {event} did not arrive: {e}; got {:?}",
                    String::from_utf8_lossy(&seen)
                )
            });
            assert!(read > 0, "the stream ended before event {n}");
            seen.extend_from_slice(&buf[..read]);
        }
        let _ = saw.send(());
    }
    while !seen.ends_with(b"0\r\n\r\n") {
        let mut buf = [0u8; 4096];
        let read = client.read(&mut buf).expect("the end of the stream");
        assert!(read > 0, "the stream ended without its last chunk");
        seen.extend_from_slice(&buf[..read]);
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    let (head, chunked) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("x-minimal: 1"),
        "both plugins saw the response: {head}"
    );
    let events = String::from_utf8(common::dechunk(chunked.as_bytes()).unwrap()).unwrap();
    assert_eq!(events, CHUNKS.concat(), "the events arrived unchanged");
    let line = wait_for_line(log, "access log line", |l| l.contains(request_id));
    let entry: serde_json::Value = serde_json::from_str(&line[line.find('{').unwrap()..]).unwrap();
    let ai_log = entry["ai_log"]
        .as_str()
        .expect("ai_log, a string as Higress logs it");
    let ai: serde_json::Value = serde_json::from_str(ai_log).unwrap();
    assert_eq!(ai["model"], "gpt-test", "{line}");
    assert_eq!(ai["request_model"], "gpt-test", "{line}");
    assert_eq!(ai["input_token"], 7, "{line}");
    assert_eq!(ai["output_token"], 5, "{line}");
    assert_eq!(ai["total_token"], 12, "{line}");
    assert_eq!(ai["response_type"], "stream", "{line}");
    assert!(
        ai["chunks"].as_u64().unwrap() >= 4,
        "the plugin saw the chunks apart: {line}"
    );
}
