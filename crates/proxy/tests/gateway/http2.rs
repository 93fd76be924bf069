//! HTTP/2 from the client's side, with Python's httpx and h2: many streams at once on one
//! connection each go through the plugin chain; the stream limit is announced; on shutdown
//! the client gets GOAWAY and the stream in flight finishes; a rapid-reset flood ends the
//! flooding connection while others are served.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{self, echo, python, run_python, tempdir, Client, Config};
use wasmgate_testkit::examples::{example, Lang};

const CONCURRENT: &str = include_str!("python/h2_concurrent.py");
const RAW: &str = include_str!("python/h2_raw.py");

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn many_streams_at_once_on_one_connection_each_pass_the_chain() {
    let upstream = echo();
    let config = Config::routed_to(upstream.local_addr())
        .setting("edge:\n  http2_max_concurrent_streams: 4")
        .plugin("hello", example(Lang::Rust, "sdk-hello"), &[]);
    let gateway = common::start(&config, &tempdir("h2-many"));
    let base = format!("http://{}", gateway.address);
    let report = json(&run_python(CONCURRENT, &[&base, "40"]));
    let answers = report["answers"].as_array().expect("answers");
    assert_eq!(answers.len(), 40);
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer["status"], 200, "{answer}");
        assert_eq!(answer["version"], "HTTP/2", "{answer}");
        assert_eq!(answer["hello"], "world", "the chain ran: {answer}");
        if i % 2 == 1 {
            assert_eq!(answer["method"], "POST");
            assert_eq!(answer["path"], format!("/post/{i}"));
            assert_eq!(answer["body"], format!("body-{i}"));
        } else {
            assert_eq!(answer["path"], format!("/get/{i}"));
        }
    }
    assert_eq!(report["connections"], 1, "one connection: {report}");

    let port = gateway.address.port().to_string();
    let settings = json(&run_python(RAW, &["127.0.0.1", &port, "settings"]));
    assert_eq!(settings["max_concurrent_streams"], 4);
}

#[test]
fn on_shutdown_the_client_gets_goaway_and_the_stream_in_flight_finishes() {
    let slow = slow_upstream(Duration::from_millis(1500));
    let config = Config::routed_to(slow);
    let gateway = common::start(&config, &tempdir("h2-goaway"));
    let port = gateway.address.port().to_string();
    let mut client = Command::new(python())
        .args(["-c", RAW, "127.0.0.1", &port, "in-flight"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut lines = BufReader::new(client.stdout.take().expect("stdout")).lines();
    let sent = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    assert_eq!(sent, "sent");
    std::thread::sleep(Duration::from_millis(300));
    drop(gateway); // shuts down: drains, then stops
    let report = json(&lines.next().and_then(|l| l.ok()).unwrap_or_default());
    let _ = client.wait();
    assert_eq!(report["status"], "200", "{report}");
    assert_eq!(report["body"], "slow answer", "{report}");
    assert_eq!(report["goaway"], true, "{report}");
}

#[test]
fn a_rapid_reset_flood_ends_that_connection_and_others_are_served() {
    let upstream = echo();
    let config = Config::routed_to(upstream.local_addr());
    let gateway = common::start(&config, &tempdir("h2-flood"));
    let port = gateway.address.port().to_string();
    let report = json(&run_python(RAW, &["127.0.0.1", &port, "flood", "1000"]));
    assert_eq!(report["ended"], true, "the flood was let through: {report}");
    assert_eq!(
        report["error_code"], 11,
        "GOAWAY ENHANCE_YOUR_CALM: {report}"
    );
    assert_eq!(gateway.get("/after", &[]).status, 200);
}

/// An upstream that answers `slow answer` `delay` after each request arrives.
fn slow_upstream(delay: Duration) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bound");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                std::thread::sleep(delay);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nslow answer",
                );
            });
        }
    });
    address
}
