//! The certificates a TLS listener serves: each loaded with its key and the fields plugins
//! read, and the choice among them by the client's SNI (rustls asks [`ByServerName`]).

use std::fmt::Write as _;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use wasmgate_host::CertificateFacts;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use crate::config::CertificateSpec;
use crate::pem::{read_certificates, read_private_key, TlsError};

/// One certificate a listener serves.
#[derive(Debug)]
pub(crate) struct Served {
    /// The DNS names it covers, lower case (`*.example.com` included as written).
    names: Vec<String>,
    key: Arc<CertifiedKey>,
    /// What plugins read of it as the local certificate.
    pub(crate) facts: CertificateFacts,
}

impl Served {
    /// Loads the chain and key of `spec`, checking that they belong together.
    pub(crate) fn load(
        spec: &CertificateSpec,
        provider: &rustls::crypto::CryptoProvider,
    ) -> Result<Served, TlsError> {
        let chain = read_certificates(&spec.cert)?;
        let key = read_private_key(&spec.key)?;
        let mismatch = |reason: String| TlsError::KeyMismatch {
            cert: spec.cert.clone(),
            key: spec.key.clone(),
            reason,
        };
        let (_, leaf) =
            X509Certificate::from_der(chain[0].as_ref()).map_err(|e| TlsError::Unusable {
                file: spec.cert.clone(),
                reason: e.to_string(),
            })?;
        let facts = facts_of(&leaf, &chain[0]);
        let names = dns_names(&leaf);
        drop(leaf);
        let key =
            CertifiedKey::from_der(chain, key, provider).map_err(|e| mismatch(e.to_string()))?;
        Ok(Served {
            names,
            key: Arc::new(key),
            facts,
        })
    }

    /// The certificate chain, leaf first.
    pub(crate) fn chain(&self) -> &[CertificateDer<'static>] {
        &self.key.cert
    }

    fn covers(&self, server_name: &str) -> bool {
        self.names.iter().any(|n| n == server_name)
    }

    fn covers_by_wildcard(&self, server_name: &str) -> bool {
        let Some((_, parent)) = server_name.split_once('.') else {
            return false;
        };
        self.names
            .iter()
            .any(|n| n.strip_prefix("*.").is_some_and(|suffix| suffix == parent))
    }
}

/// A listener's certificates, chosen by SNI: a name a certificate lists exactly, then one a
/// wildcard covers, else the first certificate.
#[derive(Debug)]
pub(crate) struct ByServerName {
    served: Vec<Served>,
}

impl ByServerName {
    /// The certificates, in the order configured (the first is the default).
    pub(crate) fn new(served: Vec<Served>) -> ByServerName {
        ByServerName { served }
    }

    /// The certificate served to a client that asked for `server_name`.
    pub(crate) fn choose(&self, server_name: Option<&str>) -> Option<&Served> {
        let by_name = server_name.map(str::to_ascii_lowercase).and_then(|name| {
            self.served
                .iter()
                .find(|s| s.covers(&name))
                .or_else(|| self.served.iter().find(|s| s.covers_by_wildcard(&name)))
        });
        by_name.or_else(|| self.served.first())
    }
}

impl ResolvesServerCert for ByServerName {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(client_hello.server_name())
            .map(|served| served.key.clone())
    }
}

/// The fields of a DER certificate plugins read, as Envoy gives them.
pub(crate) fn certificate_facts(der: &CertificateDer<'_>) -> Result<CertificateFacts, String> {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).map_err(|e| e.to_string())?;
    Ok(facts_of(&cert, der))
}

/// The facts of `cert`, parsed from `der`.
fn facts_of(cert: &X509Certificate<'_>, der: &CertificateDer<'_>) -> CertificateFacts {
    let names = alternative_names(cert);
    CertificateFacts {
        subject: rfc2253(cert.subject()),
        dns_san: names.iter().find_map(|n| match n {
            GeneralName::DNSName(name) => Some(name.to_string()),
            _ => None,
        }),
        uri_san: names.iter().find_map(|n| match n {
            GeneralName::URI(uri) => Some(uri.to_string()),
            _ => None,
        }),
        sha256_digest: hex(&Sha256::digest(der.as_ref())),
    }
}

fn alternative_names<'a>(cert: &'a X509Certificate<'a>) -> Vec<GeneralName<'a>> {
    match cert.subject_alternative_name() {
        Ok(Some(extension)) => extension.value.general_names.clone(),
        _ => Vec::new(),
    }
}

/// The DNS names of a certificate, lower case: its DNS SANs, or its CN without any.
fn dns_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut names: Vec<String> = alternative_names(cert)
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(name) => Some(name.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    names
}

/// A name in RFC 2253 form, as OpenSSL's `XN_FLAG_RFC2253` prints it (which Envoy uses):
/// the last RDN first, `type=value` joined by `,`, special characters escaped.
fn rfc2253(name: &X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let mut out = String::new();
    for rdn in name.iter_rdn().collect::<Vec<_>>().into_iter().rev() {
        for (i, attribute) in rdn.iter().enumerate() {
            if !out.is_empty() {
                out.push(if i == 0 { ',' } else { '+' });
            }
            let oid = attribute.attr_type();
            match x509_parser::objects::oid2abbrev(oid, registry) {
                Ok(short) => out.push_str(short),
                Err(_) => out.push_str(&oid.to_id_string()),
            }
            out.push('=');
            match attribute.as_str() {
                Ok(value) => escape_rfc2253(&mut out, value),
                Err(_) => {
                    out.push('#');
                    out.push_str(&hex(attribute.as_slice()));
                }
            }
        }
    }
    out
}

fn escape_rfc2253(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}
