//! [`Connection`]: the facts of the client connection a request came on, as plugins read
//! them (`connection.id`, `source.address`, `destination.address`).

use std::net::SocketAddr;

/// The connection a request came on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connection {
    pub(crate) id: u64,
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
}
