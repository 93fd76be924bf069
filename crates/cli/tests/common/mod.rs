//! Helpers for the `wasmgate` binary's tests: start it, speak HTTP/1.1 to it, run small
//! upstreams on free loopback ports.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt::Display;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wasmgate_proxy::EchoServer;

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
        Self::spawn([OsStr::new("-c"), file.as_os_str()])
    }

    /// Starts `wasmgate run ARGS --listen 127.0.0.1:0` and waits for its address.
    pub fn start(args: &[&str]) -> Running {
        Self::try_start(args).unwrap_or_else(|e| panic!("wasmgate run did not start: {e}"))
    }

    /// Like [`Running::start`], returning the error output when it exits instead.
    pub fn try_start(args: &[&str]) -> Result<Running, String> {
        let workers = if args.contains(&"--workers") {
            &[][..]
        } else {
            &["--workers", "2"][..]
        };
        Self::spawn(
            args.iter()
                .chain(&["--listen", "127.0.0.1:0"])
                .chain(workers),
        )
    }

    /// Starts `wasmgate run ARGS` with the tests' module cache and waits until it listens.
    fn spawn(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Result<Running, String> {
        let child = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
            .arg("run")
            .args(args)
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

    /// Waits up to 5 s for a line of the error output that `wanted` picks, and returns it;
    /// panics with `no WHAT in …` (the whole output) when none comes.
    #[track_caller]
    pub fn log_line(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.stderr.lock().unwrap().clone();
            if let Some(line) = log.lines().find(|l| wanted(l)) {
                return line.to_string();
            }
            assert!(Instant::now() < deadline, "no {what} in {log}");
            std::thread::sleep(Duration::from_millis(50));
        }
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
    let host = address.to_string();
    exchange(address, &host, method, path, headers, Body::Whole(body))
}

/// A request body as it goes on the wire.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    /// In one piece with its `content-length` (none when it is empty).
    Whole(&'a [u8]),
    /// With `transfer-encoding: chunked`, a chunk every 100 ms. The gateway may answer and
    /// close before the last one: errors writing the chunks and reading the answer are not
    /// failures (the answer is what arrived).
    Chunked(&'a [&'a [u8]]),
}

/// One HTTP/1.1 exchange with `Connection: close` on a new connection to `address`, with a
/// `host` header of its own (not necessarily `address`).
pub fn exchange(
    address: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Response {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    match body {
        Body::Whole(body) if !body.is_empty() => {
            head += &format!("content-length: {}\r\n", body.len())
        }
        Body::Whole(_) => {}
        Body::Chunked(_) => head += "transfer-encoding: chunked\r\n",
    }
    head += "\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    match body {
        Body::Whole(body) => {
            stream.write_all(body).unwrap();
            stream.read_to_end(&mut raw).expect("read the response");
        }
        Body::Chunked(chunks) => {
            for chunk in chunks {
                let _ = stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes());
                let _ = stream.write_all(chunk);
                let _ = stream.write_all(b"\r\n");
                let _ = stream.flush();
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = stream.write_all(b"0\r\n\r\n");
            let _ = stream.read_to_end(&mut raw);
        }
    }
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

/// Writes `DIR/NAME` and returns its path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// Writes `DIR/wasmgate.yaml` and starts `wasmgate run -c` on it.
pub fn start_with(dir: &Path, text: &str) -> Running {
    Running::start_file(&write(dir, "wasmgate.yaml", text))
}

/// The echo upstream (it answers with a JSON report of the request) on a free port.
pub fn echo() -> EchoServer {
    EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap()
}

/// Sends `SIG{NAME}` (such as `HUP`) to a child with `kill`.
#[track_caller]
pub fn signal(child: &Child, name: &str) {
    assert!(Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

/// A `wasmgate.yaml` that listens on a free port, with the top-level settings, clusters,
/// routes and plugins a test adds (one of each at least). An entry's further lines (`more`,
/// such as `aliases: [auth]` or `config: {...}`) are given as they stand under its `name`.
#[derive(Clone, Default)]
pub struct Config {
    head: String,
    clusters: String,
    routes: String,
    plugins: String,
}

impl Config {
    pub fn new() -> Config {
        Config {
            head: format!("listen: 127.0.0.1:{}\n", free_port()),
            ..Config::default()
        }
    }

    /// A top-level line, such as `access_log: json`.
    pub fn setting(mut self, line: &str) -> Config {
        self.head += &format!("{line}\n");
        self
    }

    pub fn cluster(mut self, name: &str, endpoint: impl Display, more: &[&str]) -> Config {
        self.clusters += &format!("  - name: {name}\n    endpoints: [{endpoint}]\n");
        self.clusters += &under(more);
        self
    }

    pub fn route(mut self, name: &str, cluster: &str, more: &[&str]) -> Config {
        self.routes += &format!("  - name: {name}\n    cluster: {cluster}\n");
        self.routes += &under(more);
        self
    }

    pub fn plugin(mut self, name: &str, wasm: impl AsRef<Path>, more: &[&str]) -> Config {
        let wasm = wasm.as_ref().display();
        self.plugins += &format!("  - name: {name}\n    wasm: {wasm}\n");
        self.plugins += &under(more);
        self
    }

    /// A plugin given by a WasmPlugin resource file.
    pub fn wasmplugin(mut self, file: &str) -> Config {
        self.plugins += &format!("  - wasmplugin: {file}\n");
        self
    }

    pub fn text(&self) -> String {
        format!(
            "{}clusters:\n{}routes:\n{}plugins:\n{}",
            self.head, self.clusters, self.routes, self.plugins
        )
    }

    /// Writes it as `DIR/wasmgate.yaml` and starts `wasmgate run -c` on it.
    pub fn start(&self, dir: &Path) -> Running {
        start_with(dir, &self.text())
    }
}

/// Lines under a list entry's first line.
fn under(lines: &[&str]) -> String {
    lines.iter().map(|line| format!("    {line}\n")).collect()
}
