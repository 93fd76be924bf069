//! An upstream that answers every request with what it received, as JSON:
//! `{"method", "path", "headers": {name: value}, "body"}`. For trying plugins out
//! (`wasmgate run --upstream echo`) and for tests.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// A running echo upstream.
pub struct EchoServer {
    address: SocketAddr,
    _thread: std::thread::JoinHandle<()>,
}

impl EchoServer {
    /// Starts on `address` (port 0 picks a free one) in a thread of its own.
    pub fn start(address: SocketAddr) -> std::io::Result<EchoServer> {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("wasmgate-echo".into())
            .spawn(move || runtime.block_on(answer_all(listener)))?;
        Ok(EchoServer {
            address,
            _thread: thread,
        })
    }

    /// Its address.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }
}

async fn answer_all(listener: std::net::TcpListener) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let (stream, _) = crate::edge::listener::accept(&listener).await;
        tokio::spawn(async move {
            let service = service_fn(|request: http::Request<hyper::body::Incoming>| async move {
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                Ok::<_, std::convert::Infallible>(echo(&parts, &body))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn echo(parts: &http::request::Parts, body: &[u8]) -> http::Response<Full<Bytes>> {
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(serde_json::Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_string(), serde_json::Value::String(value));
            }
        }
    }
    let reply = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        "headers": headers,
        "body": String::from_utf8_lossy(body),
    });
    let mut response = http::Response::new(Full::new(Bytes::from(reply.to_string())));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
