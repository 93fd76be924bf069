//! A TLS listener's server side: the rustls configuration built from its settings
//! (certificates by SNI, ALPN `h2` and `http/1.1`, client certificates checked against a CA
//! file), and what a finished handshake tells plugins ([`TlsFacts`]).

use std::sync::Arc;

use rustls::server::{ServerConnection, WebPkiClientVerifier};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};
use wasmgate_host::TlsFacts;

use super::certificates::{certificate_facts, ByServerName, Served};
use crate::config::ListenerTls;
use crate::pem::{read_certificates, TlsError};

/// A TLS listener's configuration, ready to accept with.
#[derive(Clone)]
pub(crate) struct ServerTls {
    pub(crate) config: Arc<ServerConfig>,
    certificates: Arc<ByServerName>,
    /// What it serves and checks, digested: two loads of the same files are equal.
    pub(crate) fingerprint: [u8; 32],
}

impl ServerTls {
    /// Reads the certificate, key and CA files of `settings` and builds the configuration.
    pub(crate) fn load(settings: &ListenerTls) -> Result<ServerTls, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let served = settings
            .certificates
            .iter()
            .map(|spec| Served::load(spec, &provider))
            .collect::<Result<Vec<_>, _>>()?;
        let mut digest = Sha256::new();
        for served in &served {
            for cert in served.chain() {
                digest.update(cert.as_ref());
            }
        }
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Settings)?;
        let builder = match &settings.client_ca {
            None => builder.with_no_client_auth(),
            Some(file) => {
                let mut roots = rustls::RootCertStore::empty();
                digest.update([u8::from(settings.require_client_certificate)]);
                for cert in read_certificates(file)? {
                    digest.update(cert.as_ref());
                    roots.add(cert).map_err(|e| TlsError::Unusable {
                        file: file.clone(),
                        reason: e.to_string(),
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if settings.require_client_certificate {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier.build().map_err(|e| TlsError::Unusable {
                    file: file.clone(),
                    reason: e.to_string(),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let certificates = Arc::new(ByServerName::new(served));
        let mut config = builder.with_cert_resolver(certificates.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls {
            config: Arc::new(config),
            certificates,
            fingerprint: digest.finalize().into(),
        })
    }

    /// What plugins see of the finished handshake `connection`.
    pub(crate) fn facts(&self, connection: &ServerConnection) -> TlsFacts {
        let server_name = connection.server_name();
        let local = self
            .certificates
            .choose(server_name)
            .map(|served| served.facts.clone())
            .unwrap_or_default();
        let peer = connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| certificate_facts(leaf).ok());
        TlsFacts {
            requested_server_name: server_name.unwrap_or_default().to_string(),
            tls_version: match connection.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
                Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            },
            local,
            peer,
        }
    }
}

/// Whether the client chose HTTP/2 by ALPN.
pub(crate) fn negotiated_h2(connection: &ServerConnection) -> bool {
    connection.alpn_protocol() == Some(b"h2")
}
