//! Redis commands from plugins: one worker's pool of connections (AUTH and SELECT sent as
//! each opens, from the plugin's `proxy_redis_init`), a command sent and one reply read
//! within the plugin's timeout.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmgate_host::abi::resp;
use wasmgate_host::{RedisCallout, RedisInit};

/// Why a Redis command got no reply.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RedisError {
    /// Connecting, writing or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection before a whole reply.
    #[error("connection closed before a full reply")]
    Closed,
    /// AUTH or SELECT was refused.
    #[error("{0}")]
    Refused(String),
    /// No reply within the plugin's timeout.
    #[error("timed out after {0} ms")]
    Timeout(u128),
}

/// Idle Redis connections of one worker, by address and credentials (AUTH and SELECT were
/// sent when each was opened).
#[derive(Default)]
pub(crate) struct RedisPool {
    idle: RefCell<HashMap<String, Vec<tokio::net::TcpStream>>>,
}

impl RedisPool {
    /// Sends one RESP command and reads one reply, on a pooled connection.
    pub(crate) async fn call(
        &self,
        call: &RedisCallout,
        address: &str,
        init: Option<&RedisInit>,
    ) -> Result<Vec<u8>, RedisError> {
        let key = format!(
            "{address}|{}",
            init.map(|i| format!("{}|{}|{}", i.username, i.password, i.upstream))
                .unwrap_or_default()
        );
        let timeout =
            Duration::from_millis(init.map(|i| i.timeout_ms).unwrap_or(1000).max(1) as u64);
        let pooled = self.idle.borrow_mut().get_mut(&key).and_then(Vec::pop);
        let exchange = async {
            let mut stream = match pooled {
                Some(stream) => stream,
                None => connect(address, init).await?,
            };
            stream.write_all(&call.query).await?;
            let reply = read_reply(&mut stream, &mut Vec::new()).await?;
            Ok::<_, RedisError>((stream, reply))
        };
        let (stream, reply) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| RedisError::Timeout(timeout.as_millis()))??;
        self.idle.borrow_mut().entry(key).or_default().push(stream);
        Ok(reply)
    }
}

/// Opens a connection and sends AUTH and SELECT from the plugin's `proxy_redis_init`.
async fn connect(
    address: &str,
    init: Option<&RedisInit>,
) -> Result<tokio::net::TcpStream, RedisError> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    for setup in init.map(setup_commands).unwrap_or_default() {
        stream.write_all(&setup).await?;
        let reply = read_reply(&mut stream, &mut Vec::new()).await?;
        if reply.first() == Some(&b'-') {
            let refusal = String::from_utf8_lossy(&reply).trim().to_string();
            return Err(RedisError::Refused(refusal));
        }
    }
    Ok(stream)
}

fn setup_commands(init: &RedisInit) -> Vec<Vec<u8>> {
    let mut commands = Vec::new();
    if !init.password.is_empty() {
        let mut args = vec!["AUTH"];
        if !init.username.is_empty() {
            args.push(&init.username);
        }
        args.push(&init.password);
        commands.push(resp::command(&args));
    }
    let db = init
        .upstream
        .split_once('?')
        .and_then(|(_, query)| query.split('&').find_map(|kv| kv.strip_prefix("db=")))
        .filter(|db| *db != "0");
    if let Some(db) = db {
        commands.push(resp::command(&["SELECT", db]));
    }
    commands
}

async fn read_reply(
    stream: &mut tokio::net::TcpStream,
    buffer: &mut Vec<u8>,
) -> Result<Vec<u8>, RedisError> {
    loop {
        if let Some(end) = resp::value_end(buffer) {
            let reply = buffer[..end].to_vec();
            buffer.drain(..end);
            return Ok(reply);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(RedisError::Closed);
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_sends_auth_and_select() {
        let init = RedisInit {
            upstream: "outbound|6379||redis.static?db=2&buffer_flush_timeout=3".into(),
            username: String::new(),
            password: "pw".into(),
            timeout_ms: 100,
        };
        let commands = setup_commands(&init);
        assert_eq!(commands[0], b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
        assert_eq!(commands[1], b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
    }
}
