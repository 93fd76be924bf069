//! Helpers for the `wasmgate` binary's tests: start it, speak HTTP/1.1 to it, run small
//! upstreams on free loopback ports.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `wasmgate run`.
pub struct Running {
    pub child: Child,
    pub address: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    /// Starts `wasmgate run -c FILE` (the file sets its own listen address) and waits.
    pub fn start_file(file: &std::path::Path) -> Running {
        Self::try_start_file(file).unwrap_or_else(|e| panic!("wasmgate run -c did not start: {e}"))
    }

    /// Like [`Running::start_file`], returning the error output when it exits instead.
    pub fn try_start_file(file: &std::path::Path) -> Result<Running, String> {
        let child = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
            .arg("run")
            .arg("-c")
            .arg(file)
            .env("WASMGATE_CACHE_DIR", cache_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wasmgate");
        Self::wait_ready(child)
    }

    /// Starts `wasmgate run ARGS --listen 127.0.0.1:0` and waits for its address.
    pub fn start(args: &[&str]) -> Running {
        Self::try_start(args).unwrap_or_else(|e| panic!("wasmgate run did not start: {e}"))
    }

    /// Like [`Running::start`], returning the error output when it exits instead.
    pub fn try_start(args: &[&str]) -> Result<Running, String> {
        let child = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
            .arg("run")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .args(if args.contains(&"--workers") {
                &[][..]
            } else {
                &["--workers", "2"][..]
            })
            .env("WASMGATE_CACHE_DIR", cache_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wasmgate");
        Self::wait_ready(child)
    }

    fn wait_ready(mut child: Child) -> Result<Running, String> {
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(|l| l.ok());
        let admin = match lines.next().and_then(|l| l.ok()) {
            Some(line) if line.starts_with("admin on http://") => line["admin on http://".len()..]
                .split_whitespace()
                .next()
                .and_then(|a| a.parse().ok()),
            _ => None,
        };
        std::thread::spawn(move || for _ in lines {});
        match first {
            Some(line) if line.starts_with("wasmgate listening on http://") => {
                let address = line["wasmgate listening on http://".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                Ok(Running {
                    child,
                    address,
                    admin,
                    stderr,
                })
            }
            other => {
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                let err = stderr.lock().unwrap().clone();
                Err(format!("stdout {other:?}, stderr: {err}"))
            }
        }
    }

    /// Sends a request to the gateway.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request(self.address, method, path, headers, body)
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers, b"")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The compiled-module cache of the tests.
pub fn cache_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasmgate-cache")
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The echo upstream's report of the request it received.
    pub fn echoed(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not an echo reply ({e}): {}", self.text()))
    }

    /// A header as the echo upstream received it.
    pub fn upstream_header(&self, name: &str) -> Option<String> {
        self.echoed()["headers"][name].as_str().map(str::to_string)
    }
}

/// One HTTP/1.1 exchange with `Connection: close`.
pub fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    if !body.is_empty() {
        head += &format!("content-length: {}\r\n", body.len());
    }
    head += "\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    parse_response(&raw)
}

/// Parses a raw HTTP/1.1 response.
pub fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// A tiny upstream that answers every request with a fixed response, on a free port.
pub fn fixed_upstream(status: u16, headers: &[(&str, &str)], body: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let mut response = format!(
        "HTTP/1.1 {status} OK\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        response += &format!("{k}: {v}\r\n");
    }
    response += "\r\n";
    response += body;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let response = response.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(response.as_bytes());
            });
        }
    });
    address
}

/// A loopback address where nothing listens.
pub fn dead_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    dead_address().port()
}

/// A scratch directory for one test.
pub fn tempdir(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "wasmgate-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
