//! Certificates for TLS tests: a CA of the test's own, and server and client certificates
//! it signs, written as PEM files into the test's directory.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

/// A CA; `ca.pem` in its directory.
pub struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    /// The CA certificate's file.
    pub ca_file: PathBuf,
}

/// A certificate and key the CA signed, as files.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PKCS#8 PEM).
    pub key: PathBuf,
}

impl Issued {
    /// A rustls server configuration serving this certificate, agreeing to `alpn` (in order
    /// of preference) by ALPN.
    pub fn server_config(&self, alpn: &[&[u8]]) -> rustls::ServerConfig {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .expect("the certificate reads back");
        let key = PrivateKeyDer::from_pem_file(&self.key).expect("the key reads back");
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a server config");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

impl Pki {
    /// A new CA named `CN=wasmgate test CA`, its certificate written to `DIR/ca.pem`.
    pub fn new(dir: &Path) -> Pki {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "wasmgate test CA");
        let ca = params.self_signed(&ca_key).expect("a CA");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("CA written");
        Pki {
            dir: dir.to_path_buf(),
            ca,
            ca_key,
            ca_file,
        }
    }

    /// A server certificate for the DNS names `names` (`*.example.test` allowed), subject
    /// `O=wasmgate,CN=<first name>`, as `DIR/<file>.pem` and `DIR/<file>.key`.
    pub fn server(&self, file: &str, names: &[&str]) -> Issued {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "wasmgate");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        self.issue(file, params)
    }

    /// A client certificate with subject `O=wasmgate,CN=<common_name>` and the URI SAN
    /// `uri`, as `DIR/<file>.pem` and `DIR/<file>.key`.
    pub fn client(&self, file: &str, common_name: &str, uri: &str) -> Issued {
        let mut params = CertificateParams::new(Vec::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "wasmgate");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.subject_alt_names = vec![SanType::URI(uri.try_into().expect("an IA5 URI"))];
        self.issue(file, params)
    }

    fn issue(&self, file: &str, params: CertificateParams) -> Issued {
        let key = KeyPair::generate().expect("a key");
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("a certificate");
        let issued = Issued {
            cert: self.dir.join(format!("{file}.pem")),
            key: self.dir.join(format!("{file}.key")),
        };
        std::fs::write(&issued.cert, cert.pem()).expect("certificate written");
        std::fs::write(&issued.key, key.serialize_pem()).expect("key written");
        issued
    }
}
