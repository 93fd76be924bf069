//! TLS to upstreams and callout targets: the roots the gateway trusts (the public ones of
//! `webpki-roots`, and the CA files clusters name) in one client configuration per
//! configuration generation.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::config::ClusterSpec;

/// The certificates of a PEM file; the error says why it cannot be used.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// The client configuration: the public roots and every cluster's `ca_file`.
pub(crate) fn client_config(clusters: &[ClusterSpec]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for file in clusters.iter().filter_map(|c| c.ca_file.as_deref()) {
        for cert in read_ca_file(file)? {
            roots
                .add(cert)
                .map_err(|e| format!("a certificate of {} is not usable: {e}", file.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
