//! PEM files for TLS: certificate chains, CA bundles and private keys, and [`TlsError`],
//! what is wrong with one.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS cannot be set up: a certificate, key or CA file that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read or is not PEM.
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
    /// The key file holds no private key.
    #[error("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", file.display())]
    NoKey {
        /// The file.
        file: PathBuf,
    },
    /// The key cannot be used, or is not the certificate's.
    #[error("the key {} does not go with the certificate {}: {reason}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the protocol versions.
    #[error("TLS settings: {0}")]
    Settings(rustls::Error),
}

/// The certificates of a PEM file.
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
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

/// The private key of a PEM file.
pub(crate) fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            file: path.to_path_buf(),
        },
        other => TlsError::Unreadable {
            file: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}
