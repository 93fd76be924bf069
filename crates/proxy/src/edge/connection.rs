//! [`Connection`]: the facts of the client connection a request came on, as plugins read
//! them (`connection.id`, `source.address`, `destination.address`, `request.protocol`, the
//! TLS `connection.*` attributes).

use std::net::SocketAddr;
use std::sync::Arc;

use wasmgate_host::TlsFacts;

/// The connection a request came on.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) id: u64,
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
    /// The handshake's facts on a TLS listener.
    pub(crate) tls: Option<Arc<TlsFacts>>,
    /// `HTTP/1.1` or `HTTP/2`, as the request came.
    pub(crate) protocol: &'static str,
}

impl Connection {
    /// The scheme the client used: `https` over TLS.
    pub(crate) fn scheme(&self) -> &'static [u8] {
        if self.tls.is_some() {
            b"https"
        } else {
            b"http"
        }
    }
}
