//! TLS to upstreams and callout targets: the roots the gateway trusts (the public ones of
//! `webpki-roots`, and the CA files clusters name) in one client configuration per
//! configuration generation.

use std::sync::Arc;

use rustls::pki_types::ServerName;

use crate::config::ClusterSpec;
use crate::pem::{read_certificates, TlsError};

/// The client configuration: the public roots and every cluster's `ca_file`.
pub(crate) fn client_config(
    clusters: &[ClusterSpec],
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for file in clusters.iter().filter_map(|c| c.ca_file.as_deref()) {
        for cert in read_certificates(file)? {
            roots.add(cert).map_err(|e| TlsError::Unusable {
                file: file.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Settings)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name a TLS endpoint's certificate must be for: the host of `host:port`.
pub(crate) fn server_name(address: &str) -> Result<ServerName<'static>, String> {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|e| format!("server name {host:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_the_endpoints_host() {
        assert!(matches!(
            server_name("localhost:443"),
            Ok(ServerName::DnsName(name)) if name.as_ref() == "localhost"
        ));
        assert!(matches!(
            server_name("[::1]:443"),
            Ok(ServerName::IpAddress(_))
        ));
    }
}
