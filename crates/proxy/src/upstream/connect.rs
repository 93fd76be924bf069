//! Opening a connection to an endpoint, for either protocol's pool: TCP without Nagle's
//! delay, then TLS with rustls for `https://` endpoints (offering the ALPN protocol of the
//! configuration given), then the protocol's handshake.

use std::sync::Arc;

use hyper_util::rt::TokioIo;

use super::clusters::Endpoint;
use super::reset::with_causes;
use super::tls::server_name;

/// A protocol's start on an open connection (its connection then runs in a task of its own).
pub(crate) trait Handshake {
    /// What requests are sent through.
    type Sender;

    async fn handshake<T>(io: T) -> Result<Self::Sender, String>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static;
}

/// Connects to `endpoint` and starts protocol `H` on the connection.
pub(crate) async fn open<H: Handshake>(
    endpoint: &Endpoint,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<H::Sender, String> {
    let tcp = tokio::net::TcpStream::connect(&endpoint.address)
        .await
        .map_err(|e| with_causes(&e))?;
    // No Nagle delay: a request head and its body go out as separate writes, and the second
    // would otherwise wait for the upstream's delayed ACK (about 40 ms on Linux).
    let _ = tcp.set_nodelay(true);
    if !endpoint.tls {
        return H::handshake(TokioIo::new(tcp)).await;
    }
    let name = server_name(&endpoint.address)?;
    // rustls refuses a server that picks a protocol other than the one offered.
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {}", with_causes(&e)))?;
    H::handshake(TokioIo::new(stream)).await
}
