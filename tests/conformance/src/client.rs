//! A raw HTTP/1.1 client: the request goes out byte for byte as written (header names keep
//! their case, repeated headers stay repeated), one request per connection
//! (`Connection: close`), and the answer is parsed with `httparse` into the workspace
//! tests' [`Response`].

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use wasmgate_test_support::dechunk;
pub use wasmgate_test_support::http::{escape, shorten, Response};

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: String,
    /// The path with its query.
    pub path: String,
    /// The `Host` header (default: [`crate::HOST`]).
    pub host: String,
    /// Headers besides `Host`, `Content-Length` and `Connection`, as written.
    pub headers: Vec<(String, String)>,
    /// The body (sent with `Content-Length`, or chunked, see `chunked`), if any.
    pub body: Option<Vec<u8>>,
    /// Headers whose values are raw bytes (e.g. not UTF-8), sent after `headers`.
    pub byte_headers: Vec<(String, Vec<u8>)>,
    /// Send the body with `Transfer-Encoding: chunked`, in chunks of this size.
    pub chunked: Option<usize>,
    /// Send `Expect: 100-continue` and the body only after an interim `100` (or after
    /// [`CONTINUE_WAIT`] without one, as curl does).
    pub expect_continue: bool,
}

/// How long a client with `Expect: 100-continue` waits for the `100` before it sends the
/// body anyway (curl waits 1 s).
pub const CONTINUE_WAIT: Duration = Duration::from_secs(1);

impl Request {
    /// A request without headers or body.
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            host: crate::HOST.to_string(),
            headers: Vec::new(),
            body: None,
            byte_headers: Vec::new(),
            chunked: None,
            expect_continue: false,
        }
    }

    /// A GET.
    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    /// Sends another `Host`.
    pub fn host(mut self, host: &str) -> Request {
        self.host = host.to_string();
        self
    }

    /// Adds a header (repeat to send a name twice).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: &str) -> Request {
        self.body = Some(body.as_bytes().to_vec());
        self
    }

    /// Sets the body from bytes.
    pub fn body_bytes(mut self, body: Vec<u8>) -> Request {
        self.body = Some(body);
        self
    }

    /// Adds a header whose value is raw bytes.
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Request {
        self.byte_headers.push((name.to_string(), value.to_vec()));
        self
    }

    /// Sends the body chunked, `size` bytes a chunk.
    pub fn chunked(mut self, size: usize) -> Request {
        self.chunked = Some(size.max(1));
        self
    }

    /// Sends `Expect: 100-continue` and waits for the `100` before the body.
    pub fn expect_continue(mut self) -> Request {
        self.expect_continue = true;
        self
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = self.encode_head();
        out.extend_from_slice(&self.encode_body());
        out
    }

    fn encode_head(&self) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            self.method, self.path, self.host
        );
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        let mut out = out.into_bytes();
        for (name, value) in &self.byte_headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(body) = &self.body {
            if self.chunked.is_some() {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            } else {
                out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
            }
        }
        if self.expect_continue {
            out.extend_from_slice(b"Expect: 100-continue\r\n");
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out
    }

    fn encode_body(&self) -> Vec<u8> {
        let Some(body) = &self.body else {
            return Vec::new();
        };
        let Some(size) = self.chunked else {
            return body.clone();
        };
        let mut out = Vec::new();
        for chunk in body.chunks(size) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if self.host != crate::HOST {
            write!(f, " [host: {}]", self.host)?;
        }
        for (name, value) in &self.headers {
            write!(f, " [{name}: {value}]")?;
        }
        for (name, value) in &self.byte_headers {
            write!(f, " [{name}: {}]", escape(value))?;
        }
        if self.expect_continue {
            write!(f, " [expect: 100-continue]")?;
        }
        if let Some(body) = &self.body {
            write!(f, " body {}", shorten(body))?;
            if let Some(size) = self.chunked {
                write!(f, " (chunked by {size})")?;
            }
        }
        Ok(())
    }
}

/// Sends `request` to `address` and reads the whole answer.
pub fn send(address: SocketAddr, request: &Request) -> Result<Response, String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .map_err(|e| format!("connect {address}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    if request.expect_continue {
        stream
            .write_all(&request.encode_head())
            .map_err(|e| format!("write: {e}"))?;
        // Wait for the interim `100` (or a final answer) at most CONTINUE_WAIT, then send
        // the body either way, as curl does.
        stream
            .set_read_timeout(Some(CONTINUE_WAIT))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4096];
        while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        // A server that answered already may have closed: the body write may then fail.
        let _ = stream.write_all(&request.encode_body());
    } else {
        stream
            .write_all(&request.encode())
            .map_err(|e| format!("write: {e}"))?;
    }
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read (got {} bytes): {e}", raw.len()))?;
    parse(&raw, request.method == "HEAD")
}

fn parse(mut raw: &[u8], head_request: bool) -> Result<Response, String> {
    let mut interim = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(raw) {
            Ok(httparse::Status::Complete(n)) if matches!(parsed.code, Some(100..=199)) => {
                interim.push(parsed.code.unwrap_or(0));
                raw = &raw[n..];
            }
            _ => break,
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(format!(
                "incomplete answer: {:?}",
                String::from_utf8_lossy(raw)
            ))
        }
        Err(e) => {
            return Err(format!(
                "bad answer ({e}): {:?}",
                String::from_utf8_lossy(raw)
            ))
        }
    };
    let status = parsed.code.unwrap_or(0);
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let rest = &raw[head_len..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head_request || status == 204 || status == 304 {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else if let Some((_, length)) = headers.iter().find(|(n, _)| n == "content-length") {
        let length: usize = length.trim().parse().map_err(|_| "bad content-length")?;
        rest.get(..length)
            .ok_or_else(|| format!("body shorter than content-length {length}"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        interim,
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chunked_and_sized_answers() {
        let sized = parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhi",
            false,
        )
        .unwrap();
        assert_eq!(sized.body, b"hi");
        assert_eq!(sized.header("x-a"), Some("b"));
        let chunked = parse(
            b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!(chunked.status, 404);
        assert_eq!(chunked.body, b"abcde");
        let head = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", true).unwrap();
        assert!(head.body.is_empty());
    }

    #[test]
    fn requests_keep_header_case_and_repeats() {
        let raw = Request::get("/")
            .header("X-Mixed", "1")
            .header("x-r", "a")
            .header("x-r", "b")
            .body("xy")
            .encode();
        let text = String::from_utf8(raw).unwrap();
        assert!(text.contains("X-Mixed: 1\r\nx-r: a\r\nx-r: b\r\nContent-Length: 2\r\n"));
        assert!(text.ends_with("\r\n\r\nxy"));
    }
}
