//! What the gateway tests share: a configuration for one upstream on a free port, and one
//! GET on a connection of its own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use wasmgate_host::RuntimeConfig;
use wasmgate_proxy::GatewayConfig;

/// Every request to `upstream` (route `r`, cluster `c`), listening on a free port, plugins
/// compiled as the environment asks (the test run's cache).
pub fn one_upstream(upstream: &str, workers: usize) -> GatewayConfig {
    let mut config = GatewayConfig::single_upstream(upstream, "r", "c");
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.workers = workers;
    config.runtime = RuntimeConfig::from_env();
    config
}

/// A GET of `path` with `headers` through the gateway (`Connection: close`); the whole
/// answer as text.
pub fn get(gateway: SocketAddr, path: &str, headers: &[(&str, &str)]) -> String {
    let mut stream = TcpStream::connect(gateway).expect("the gateway accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: test.local\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("the request goes out");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    answer
}
