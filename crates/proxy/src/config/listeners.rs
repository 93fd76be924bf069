//! What the edge is configured with: the listeners (plain or TLS, with their certificates
//! and client-certificate checks) and the limits every client connection is held to.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One listening address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// The address (port 0 picks a free one).
    pub address: SocketAddr,
    /// TLS on this listener; plain HTTP (HTTP/1.1 and h2c) without.
    pub tls: Option<ListenerTls>,
}

impl ListenerSpec {
    /// A plain listener on `address`.
    pub fn plain(address: SocketAddr) -> ListenerSpec {
        ListenerSpec { address, tls: None }
    }
}

/// A TLS listener's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// The certificates served; a client's SNI picks the one whose DNS names cover it, the
    /// first one serves clients that send no SNI or an unknown name.
    pub certificates: Vec<CertificateSpec>,
    /// A PEM file of CAs that client certificates must chain to (mTLS).
    pub client_ca: Option<PathBuf>,
    /// Refuse clients without a certificate (with `client_ca`). Envoy's
    /// `require_client_certificate`; without it a certificate is checked when given.
    pub require_client_certificate: bool,
}

/// A certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSpec {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The limits client connections are held to. The defaults are Envoy's, except the request
/// headers timeout: Envoy has none by default, which lets a client that trickles its headers
/// hold a connection for the hour of the idle timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeLimits {
    /// How long a client may take to send a request's headers (HTTP/1); `None`: no limit.
    pub request_headers_timeout: Option<Duration>,
    /// A connection with no request in flight for this long is closed; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// A request whose body sends nothing for this long gets 408 (Envoy's
    /// `stream_idle_timeout`, 5 minutes by default); `None`: no limit.
    pub stream_idle_timeout: Option<Duration>,
    /// The most bytes of request headers (431 past it on HTTP/1, a stream reset on HTTP/2).
    pub max_request_headers_bytes: usize,
    /// The most request headers (431 past it on HTTP/1).
    pub max_request_headers_count: usize,
    /// The most open client connections per worker; past it new connections wait in the
    /// listen backlog. `None`: no limit.
    pub max_connections_per_worker: Option<usize>,
    /// HTTP/2: the most concurrent streams per connection.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2: the most streams a client may reset before the gateway accepted them; past it
    /// the connection is closed with GOAWAY (rapid-reset flood protection).
    pub http2_max_pending_reset_streams: usize,
    /// On shutdown, how long requests in flight may take to finish; WebSocket and other
    /// tunnels still open then are closed, as Envoy closes them when its drain ends.
    pub drain_timeout: Duration,
    /// HTTP/2: take WebSocket over HTTP/2 (RFC 8441 extended CONNECT, announced with
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL`), as Envoy's `allow_connect`; off by default, as
    /// in Envoy.
    pub http2_allow_connect: bool,
    /// HTTP/1.0 requests are served (Envoy's `accept_http_10`); off by default, as in Envoy,
    /// whose answer to them is 426.
    pub accept_http_10: bool,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            request_headers_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(3600)),
            stream_idle_timeout: Some(Duration::from_secs(300)),
            max_request_headers_bytes: 60 << 10,
            max_request_headers_count: 100,
            max_connections_per_worker: None,
            http2_max_concurrent_streams: 2_147_483_647,
            http2_max_pending_reset_streams: 20,
            drain_timeout: Duration::from_secs(5),
            http2_allow_connect: false,
            accept_http_10: false,
        }
    }
}
