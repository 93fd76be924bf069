//! [`GatewayError`]: why a gateway did not start or reload.

use std::net::SocketAddr;

use wasmgate_host::HostError;

use crate::pem::TlsError;

/// Why a gateway did not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A plugin failed to load or start.
    #[error(transparent)]
    Plugin(#[from] HostError),
    /// The configuration has no listener.
    #[error("no listener configured; add one under listen:")]
    NoListener,
    /// A listening address is not available.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A thread or its runtime could not start.
    #[error("cannot start the {thread} thread: {source}")]
    Thread {
        /// Which thread.
        thread: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// A worker stopped before it took the configuration.
    #[error("a worker stopped {when}")]
    WorkerStopped {
        /// When: while starting, during a reload.
        when: &'static str,
    },
    /// The trusted roots for TLS upstreams could not be set up (a bad `ca_file`).
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// A TLS listener's certificate, key or client CA is wrong.
    #[error("TLS listener {address}: {source}")]
    ListenerTls {
        /// The listener.
        address: SocketAddr,
        /// What is wrong.
        source: TlsError,
    },
}
