//! What answers at a case's upstream and callout clusters besides the echo upstream: a
//! listener that never answers, a refused port, the grpcio server.

use std::net::SocketAddr;
use std::time::Duration;

/// What answers at a callout cluster's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The echo upstream (a 200 with its JSON report).
    Echo,
    /// Nothing: a local port nobody listens on (connection refused).
    Refused,
    /// A listener that accepts connections and never answers (the callout times out).
    Silent,
    /// The grpcio server of the gateway's gRPC tests (`test.Echo`: `Unary`, `Fail`,
    /// `Slow`, `Chat`); name its cluster `grpc…` so both hosts speak HTTP/2 to it.
    Grpc,
}

/// Whether a callout cluster speaks HTTP/2 on both hosts: those named `grpc…`.
pub fn is_h2_callout(name: &str) -> bool {
    name.starts_with("grpc")
}

/// A listener that accepts and holds connections without reading or answering.
pub(crate) struct Silent {
    pub(crate) address: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Silent {
    pub(crate) fn start() -> Silent {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("silent listener");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let address = listener.local_addr().expect("its address");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Silent {
            address,
            stop,
            thread,
        }
    }

    pub(crate) fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.thread.join();
    }
}
