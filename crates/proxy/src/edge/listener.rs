//! Listening sockets: binding one (non-blocking, shared by the workers), and accepting on
//! it without spinning when accepting fails.

use std::net::SocketAddr;

use crate::error::GatewayError;

/// A listening socket on `address`, and the address it got (port 0 picks a free one).
pub(crate) fn bind(
    address: SocketAddr,
) -> Result<(std::net::TcpListener, SocketAddr), GatewayError> {
    let bound = || {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        Ok((listener, local))
    };
    bound().map_err(|source| GatewayError::Bind { address, source })
}

/// The next connection. An accept error (out of file descriptors, say) is logged and
/// waited out for 100 ms, so that connections can close, instead of spinning on it.
pub(crate) async fn accept(
    listener: &tokio::net::TcpListener,
) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!("accept failed, pausing 100 ms: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
