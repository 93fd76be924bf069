//! The pooled HTTP client of one worker, for requests to upstreams and plugins' callouts:
//! plain HTTP/1.1, or over TLS (rustls) for `https://` endpoints.

use hyper_util::client::legacy::connect::HttpConnector;

use crate::body::Body;

/// The HTTP client callouts and upstream requests use.
pub(crate) type Client =
    hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// A new pooled HTTP/1 client for `http://` and (with `tls`) `https://` URIs. Its
/// connections send without Nagle's delay: a request head and its body go out as separate
/// writes, and the second would otherwise wait for the upstream's delayed ACK (about 40 ms
/// on Linux).
pub(crate) fn client(tls: &rustls::ClientConfig) -> Client {
    let mut plain = HttpConnector::new();
    plain.set_nodelay(true);
    plain.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(plain);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector)
}
