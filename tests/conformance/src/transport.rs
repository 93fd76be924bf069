//! How a case's requests reach the hosts: the raw HTTP/1.1 client of [`crate::client`] on
//! a plain connection, or hyper's client for HTTP/2 cleartext (prior knowledge) and for TLS
//! (HTTP/1.1 or h2 by ALPN, with SNI, optionally with a client certificate).
//!
//! With TLS, each case run makes its own CA ([`Pki`]) and a server certificate for
//! [`crate::HOST`] (and, for [`Tls::client_certificate`], a client certificate); both hosts
//! serve the same files, so the certificate facts plugins read agree.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use wasmgate_test_support::{Issued, Pki};

use crate::client::{Request, Response};

/// The client certificate's common name (subject `O=wasmgate,CN=conformance client`).
pub const CLIENT_NAME: &str = "conformance client";
/// The client certificate's URI SAN.
pub const CLIENT_URI: &str = "spiffe://conformance.test/client";

/// How the requests of a case go out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Transport {
    /// Plain HTTP/1.1, byte for byte ([`crate::client`]).
    #[default]
    Http1,
    /// HTTP/2 over plain TCP with prior knowledge (h2c).
    H2c,
    /// TLS.
    Tls(Tls),
}

/// A TLS connection's choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// Offer only `h2` by ALPN (else only `http/1.1`).
    pub h2: bool,
    /// The SNI sent; `None`: none.
    pub sni: Option<String>,
    /// Present a client certificate (the listener then trusts the case's CA, without
    /// requiring a certificate: Envoy's `validation_context` with
    /// `require_client_certificate: false`).
    pub client_certificate: bool,
}

impl Tls {
    /// HTTP/1.1 over TLS with SNI [`crate::HOST`], no client certificate.
    pub fn http1() -> Tls {
        Tls {
            h2: false,
            sni: Some(crate::HOST.to_string()),
            client_certificate: false,
        }
    }

    /// h2 over TLS with SNI [`crate::HOST`], no client certificate.
    pub fn h2() -> Tls {
        Tls {
            h2: true,
            ..Tls::http1()
        }
    }

    /// The same, presenting the client certificate.
    pub fn with_client_certificate(mut self) -> Tls {
        self.client_certificate = true;
        self
    }
}

/// The certificates of one case run (TLS only).
pub struct Certificates {
    /// The CA file (the client trusts it; with a client certificate, the listener too).
    pub ca: std::path::PathBuf,
    /// The server certificate for [`crate::HOST`].
    pub server: Issued,
    /// The client certificate, when the case presents one.
    pub client: Option<Issued>,
    /// Whether the listener checks client certificates (trusts `ca`).
    pub verify_clients: bool,
}

impl Certificates {
    /// A fresh CA in `dir` and the certificates `tls` needs.
    pub fn make(dir: &Path, tls: &Tls) -> Certificates {
        let pki = Pki::new(dir);
        let server = pki.server("server", &[crate::HOST]);
        let client = tls
            .client_certificate
            .then(|| pki.client("client", CLIENT_NAME, CLIENT_URI));
        Certificates {
            ca: pki.ca_file.clone(),
            server,
            client,
            verify_clients: tls.client_certificate,
        }
    }
}

impl Transport {
    /// Sends `request` to `address` this way and reads the whole answer.
    pub fn send(
        &self,
        address: SocketAddr,
        request: &Request,
        certificates: Option<&Certificates>,
    ) -> Result<Response, String> {
        match self {
            Transport::Http1 => crate::client::send(address, request),
            Transport::H2c => run(send_hyper(address, request, None, true)),
            Transport::Tls(tls) => {
                let certificates = certificates.ok_or("TLS without certificates")?;
                let connector = connector(tls, certificates)?;
                let sni = tls.sni.clone();
                run(send_hyper(address, request, Some((connector, sni)), tls.h2))
            }
        }
    }
}

/// Writes `bytes` as they are on a TLS connection made as `tls` says, and reads what comes
/// back until the server closes or pauses for 3 s.
pub fn send_raw_tls(
    address: SocketAddr,
    tls: &Tls,
    certificates: &Certificates,
    bytes: &[u8],
) -> Result<Vec<u8>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let connector = connector(tls, certificates)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("a runtime: {e}"))?;
    runtime.block_on(async {
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|e| format!("connect {address}: {e}"))?;
        let name = ServerName::try_from(crate::HOST.to_string()).map_err(|e| e.to_string())?;
        let mut stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        // The server may answer and close before it has read everything.
        let _ = stream.write_all(bytes).await;
        let _ = stream.flush().await;
        let mut raw = Vec::new();
        let mut buf = [0u8; 16384];
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        Ok(raw)
    })
}

fn run(
    future: impl std::future::Future<Output = Result<Response, String>>,
) -> Result<Response, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("a runtime: {e}"))?;
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), future)
            .await
            .map_err(|_| "no answer within 20 s".to_string())?
    })
}

fn connector(tls: &Tls, certificates: &Certificates) -> Result<tokio_rustls::TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&certificates.ca).map_err(|e| e.to_string())? {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut config = match (&certificates.client, tls.client_certificate) {
        (Some(client), true) => {
            let chain = CertificateDer::pem_file_iter(&client.cert)
                .map_err(|e| e.to_string())?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let key = PrivateKeyDer::from_pem_file(&client.key).map_err(|e| e.to_string())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![if tls.h2 {
        b"h2".to_vec()
    } else {
        b"http/1.1".to_vec()
    }];
    config.enable_sni = tls.sni.is_some();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// A body sent as the given frames (no size known: h2 sends no `content-length`).
struct Frames(std::collections::VecDeque<Bytes>);

impl Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

/// The request as hyper's: `:authority` (h2) or `Host` (HTTP/1.1) from `request.host`, the
/// headers in order, `content-length` for a body unless it goes in frames (`chunked`).
fn build(request: &Request, h2: bool, tls: bool) -> Result<hyper::Request<Frames>, String> {
    if request.expect_continue {
        return Err("expect: 100-continue is sent over plain HTTP/1.1 only".into());
    }
    let uri = if h2 {
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://{}{}", request.host, request.path)
    } else {
        request.path.clone()
    };
    let mut builder = hyper::Request::builder()
        .method(request.method.as_str())
        .uri(uri);
    if !h2 {
        builder = builder
            .header("host", &request.host)
            .header("connection", "close");
    }
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    for (name, value) in &request.byte_headers {
        let value = hyper::header::HeaderValue::from_bytes(value).map_err(|e| e.to_string())?;
        builder = builder.header(name.as_str(), value);
    }
    let mut frames = std::collections::VecDeque::new();
    if let Some(body) = &request.body {
        match request.chunked {
            Some(size) if h2 => {
                frames.extend(body.chunks(size).map(Bytes::copy_from_slice));
            }
            Some(_) => return Err("chunked bodies go over plain HTTP/1.1 only".into()),
            None => {
                builder = builder.header("content-length", body.len().to_string());
                if !body.is_empty() {
                    frames.push_back(Bytes::copy_from_slice(body));
                }
            }
        }
    }
    builder.body(Frames(frames)).map_err(|e| e.to_string())
}

async fn send_hyper(
    address: SocketAddr,
    request: &Request,
    tls: Option<(tokio_rustls::TlsConnector, Option<String>)>,
    h2: bool,
) -> Result<Response, String> {
    let tcp = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    let built = build(request, h2, tls.is_some())?;
    match tls {
        None => exchange(TokioIo::new(tcp), built, h2, None).await,
        Some((connector, sni)) => {
            // Without SNI rustls still needs a name to check the certificate against.
            let name = sni.unwrap_or_else(|| crate::HOST.to_string());
            let name = ServerName::try_from(name).map_err(|e| e.to_string())?;
            let stream = connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            exchange(TokioIo::new(stream), built, h2, alpn).await
        }
    }
}

async fn exchange<I>(
    io: TokioIo<I>,
    request: hyper::Request<Frames>,
    h2: bool,
    alpn: Option<Vec<u8>>,
) -> Result<Response, String>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if let Some(alpn) = &alpn {
        let wanted: &[u8] = if h2 { b"h2" } else { b"http/1.1" };
        if alpn != wanted {
            return Err(format!(
                "ALPN chose {:?}",
                String::from_utf8_lossy(alpn).into_owned()
            ));
        }
    }
    let answer = if h2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| format!("h2 handshake: {e}"))?;
        tokio::spawn(connection);
        sender.send_request(request).await
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("http1 handshake: {e}"))?;
        tokio::spawn(connection);
        sender.send_request(request).await
    }
    .map_err(|e| format!("request: {e}"))?;
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = answer
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes()
        .to_vec();
    Ok(Response {
        interim: Vec::new(),
        status,
        headers,
        body,
    })
}
