//! TLS to upstreams and callout targets: the roots the gateway trusts (the public ones of
//! `webpki-roots`, and the CA files clusters name) in one client configuration per
//! configuration generation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::config::ClusterSpec;

/// Why the trusted roots cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file cannot be read or is not PEM.
    #[error("cannot read {}: {reason}", file.display())]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file holds no certificate.
    #[error("{} holds no PEM certificate", file.display())]
    NoCertificate {
        /// The file.
        file: PathBuf,
    },
    /// A certificate of the file is not usable as a root.
    #[error("a certificate of {} is not usable: {reason}", file.display())]
    Unusable {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the protocol versions.
    #[error("TLS settings: {0}")]
    Settings(rustls::Error),
}

/// The certificates of a PEM file.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |reason: String| TlsError::Unreadable {
        file: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            file: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The client configuration: the public roots and every cluster's `ca_file`.
pub(crate) fn client_config(
    clusters: &[ClusterSpec],
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for file in clusters.iter().filter_map(|c| c.ca_file.as_deref()) {
        for cert in read_ca_file(file)? {
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
