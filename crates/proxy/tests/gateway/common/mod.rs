//! What the gateway tests share: the workspace's test helpers, a configuration for one
//! upstream, a gateway started in-process from `wasmgate.yaml` text, test servers' accept
//! loops, WebSocket peers, the log lines of the test binary.

#![allow(dead_code)]

pub mod log;
pub mod websocket;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;

use wasmgate_proxy::{parse_config, Gateway, GatewayConfig};
pub use wasmgate_test_support::*;

/// Every request to `upstream` (route `r`, cluster `c`), listening on a free port, with the
/// tests' compiled-module cache.
pub fn one_upstream(upstream: &str, workers: usize) -> GatewayConfig {
    let mut config = GatewayConfig::single_upstream(upstream, "r", "c");
    config.listen_on(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.workers = workers;
    config.runtime.cache_dir = Some(cache_dir());
    config
}

/// A GET of `path` with `headers` and the host `test.local` through the gateway.
pub fn get(gateway: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    exchange(
        gateway,
        "test.local",
        "GET",
        path,
        headers,
        Body::Whole(b""),
    )
}

/// `text` written as `DIR/wasmgate.yaml` and parsed as the gateway would load it, with the
/// tests' compiled-module cache; panics with the error when the file is refused.
pub fn config_file(dir: &Path, text: &str) -> GatewayConfig {
    let path = write(dir, "wasmgate.yaml", text);
    let mut config = parse_config(&path, text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    config.runtime.cache_dir = Some(cache_dir());
    config
}

/// A gateway started in-process, shut down when dropped.
pub struct Running {
    gateway: Option<Gateway>,
    /// Where it listens.
    pub address: SocketAddr,
}

impl Running {
    /// Starts a gateway on `config`; panics with the error when it does not start.
    pub fn start(config: GatewayConfig) -> Running {
        let gateway = Gateway::start(config).unwrap_or_else(|e| panic!("no start: {e}"));
        Running {
            address: gateway.local_addr(),
            gateway: Some(gateway),
        }
    }

    /// The gateway.
    pub fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().expect("running")
    }
}

impl Client for Running {
    fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.shutdown();
        }
    }
}

/// Writes `text` as `DIR/wasmgate.yaml` and starts a gateway on it.
pub fn start_with(dir: &Path, text: &str) -> Running {
    Running::start(config_file(dir, text))
}

/// Writes the configuration as `DIR/wasmgate.yaml` and starts a gateway on it.
pub fn start(config: &Config, dir: &Path) -> Running {
    start_with(dir, &config.text())
}

/// Listens on a free 127.0.0.1 port in a thread of its own (a current-thread tokio runtime)
/// and serves each connection it accepts with `serve`, in a task; returns the address.
pub fn accept_in_background<F, Fut>(serve: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bound");
    listener.set_nonblocking(true).expect("nonblocking");
    let address = listener.local_addr().expect("an address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream));
            }
        });
    });
    address
}
