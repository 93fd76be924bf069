//! A raw HTTP/1.1 client for tests (one exchange per connection, `Connection: close`, the
//! answer de-chunked), and small upstreams on free loopback ports.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use wasmgate_proxy::EchoServer;

/// An answer as the client got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The interim (1xx) statuses received before the answer, e.g. `100`.
    pub interim: Vec<u16>,
    /// The status code.
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
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

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for status in &self.interim {
            write!(f, "({status}) ")?;
        }
        write!(f, "{}", self.status)?;
        for (name, value) in &self.headers {
            write!(f, " [{name}: {value}]")?;
        }
        write!(f, " body {}", shorten(&self.body))
    }
}

/// Bytes as text, non-UTF-8 bytes escaped as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    bytes.utf8_chunks().fold(String::new(), |mut out, chunk| {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
        out
    })
}

/// A body for messages: quoted, long ones cut to their length and first bytes.
pub fn shorten(body: &[u8]) -> String {
    if body.len() > 300 {
        format!(
            "{:?}… ({} bytes)",
            String::from_utf8_lossy(&body[..200]),
            body.len()
        )
    } else {
        format!("{:?}", String::from_utf8_lossy(body))
    }
}

/// A server under test: one exchange with it per call, on a new connection.
pub trait Client {
    /// Where it listens.
    fn address(&self) -> SocketAddr;

    /// A request with the server's address as its host.
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        request(self.address(), method, path, headers, body)
    }

    /// A GET with the server's address as its host.
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers, b"")
    }

    /// A GET with another host.
    fn get_host(&self, host: &str, path: &str) -> Response {
        exchange(self.address(), host, "GET", path, &[], Body::Whole(b""))
    }

    /// A `POST /` with this host.
    fn post(&self, host: &str, headers: &[(&str, &str)], body: Body) -> Response {
        exchange(self.address(), host, "POST", "/", headers, body)
    }
}

/// One HTTP/1.1 exchange with `Connection: close`, with `address` as the `host`.
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
    /// With `transfer-encoding: chunked`, a chunk every 100 ms. The server may answer and
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

/// Parses a raw HTTP/1.1 response (after its interim 1xx heads, if any); panics on one that
/// is not.
pub fn parse_response(mut raw: &[u8]) -> Response {
    let mut interim = Vec::new();
    while raw.starts_with(b"HTTP/1.1 1") {
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let code = String::from_utf8_lossy(&raw[9..12]).parse().unwrap_or(0);
        interim.push(code);
        raw = &raw[end + 4..];
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body).unwrap_or_else(|e| panic!("a bad chunked body: {e}"));
    }
    Response {
        interim,
        status,
        headers,
        body,
    }
}

/// The data of a chunked body (chunk extensions ignored), up to its last (empty) chunk.
pub fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line without CRLF")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(data.get(..size).ok_or("truncated chunk")?);
        data = data.get(size + 2..).ok_or("truncated chunk")?;
    }
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

/// The echo upstream (it answers with a JSON report of the request) on a free port.
pub fn echo() -> EchoServer {
    EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("the echo upstream starts")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_answers_are_joined_and_bad_ones_refused() {
        let response = parse_response(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        );
        assert_eq!(response.status, 404);
        assert_eq!(response.header("transfer-encoding"), Some("chunked"));
        assert_eq!(response.body, b"abcde");
        let continued = parse_response(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nok");
        assert_eq!(
            (&continued.interim[..], continued.status),
            (&[100][..], 200)
        );
        assert_eq!(continued.to_string(), "(100) 200 body \"ok\"");
        assert_eq!(dechunk(b"3\r\nab").unwrap_err(), "truncated chunk");
        assert_eq!(dechunk(b"zz\r\n").unwrap_err(), "bad chunk size \"zz\"");
    }
}
