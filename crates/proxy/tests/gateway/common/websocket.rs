//! WebSocket peers for the gateway tests: the `websockets` echo upstream
//! (`python/ws_echo.py`) and client (`python/ws_client.py`), and what their reports say.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use super::{python, run_python, Running};

const UPSTREAM: &str = include_str!("../python/ws_echo.py");
const CLIENT: &str = include_str!("../python/ws_client.py");

/// The WebSocket echo upstream (`python/ws_echo.py`), stopped when dropped.
pub struct WsUpstream {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
}

impl WsUpstream {
    /// Starts it; panics when it does not start.
    pub fn start() -> WsUpstream {
        let mut child = Command::new(python())
            .args(["-c", UPSTREAM])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the upstream prints its port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the WebSocket upstream did not start: {line:?}")
        });
        WsUpstream {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

impl Drop for WsUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` as JSON; panics with it when it is not.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The value of header `name` among `[name, value]` pairs (case-insensitive), if any.
pub fn header<'a>(pairs: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    pairs.as_array()?.iter().find_map(|pair| {
        let key = pair[0].as_str()?;
        key.eq_ignore_ascii_case(name).then(|| pair[1].as_str())?
    })
}

/// The client's scenario at `path` through `gateway`, with handshake `headers` (`name=value`).
pub fn client(
    gateway: &Running,
    path: &str,
    scenario: &str,
    headers: &[&str],
) -> serde_json::Value {
    let url = format!("ws://{}{path}", gateway.address);
    let mut args = vec![url.as_str(), scenario];
    args.extend_from_slice(headers);
    json(&run_python(CLIENT, &args))
}
