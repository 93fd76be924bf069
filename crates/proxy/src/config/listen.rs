//! The `listen:` and `edge:` parts of a `wasmgate.yaml`: one address, or a list of listeners
//! (TLS ones with certificate and key files, checked here so that a bad file is refused with
//! its line), and the limits client connections are held to.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, Locator};
use super::listeners::{CertificateSpec, EdgeLimits, ListenerSpec, ListenerTls};
use crate::edge::tls::ServerTls;

/// `listen:` as written: an address, or a list of listeners.
pub(super) enum FileListen {
    One(String),
    Many(Vec<FileListener>),
}

/// By hand rather than `untagged`, so that a wrong listener entry is reported as what is
/// wrong in it (an unknown field, a missing address) with its line.
impl<'de> Deserialize<'de> for FileListen {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Listen;
        impl<'de> serde::de::Visitor<'de> for Listen {
            type Value = FileListen;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an address (127.0.0.1:10000) or a list of listeners")
            }

            fn visit_str<E: serde::de::Error>(self, address: &str) -> Result<FileListen, E> {
                Ok(FileListen::One(address.to_string()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<FileListen, A::Error> {
                let seq = serde::de::value::SeqAccessDeserializer::new(seq);
                Vec::<FileListener>::deserialize(seq).map(FileListen::Many)
            }
        }
        deserializer.deserialize_any(Listen)
    }
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a listener: {address: IP:PORT, tls: ...}"
)]
pub(super) struct FileListener {
    address: String,
    tls: Option<FileTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    #[serde(default)]
    certificates: Vec<FileCertificate>,
    client_ca: Option<String>,
    #[serde(default)]
    require_client_certificate: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCertificate {
    cert: String,
    key: String,
}

/// `edge:` as written; every field optional (Envoy's defaults, see [`EdgeLimits`]).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileEdge {
    request_headers_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    stream_idle_timeout_ms: Option<u64>,
    max_request_headers_kb: Option<usize>,
    max_request_headers_count: Option<usize>,
    max_connections_per_worker: Option<usize>,
    http2_max_concurrent_streams: Option<u32>,
    http2_max_pending_reset_streams: Option<usize>,
    drain_timeout_ms: Option<u64>,
    http2_allow_connect: Option<bool>,
    accept_http_10: Option<bool>,
}

/// The listeners of `listen`, files relative to `base`; TLS ones are loaded once to check
/// their files.
pub(super) fn listeners(
    at: &Locator<'_>,
    base: &Path,
    listen: FileListen,
) -> Result<Vec<ListenerSpec>, ConfigError> {
    let entries = match listen {
        FileListen::One(address) => {
            return Ok(vec![ListenerSpec::plain(at.address("listen", &address)?)])
        }
        FileListen::Many(entries) => entries,
    };
    if entries.is_empty() {
        return Err(at.error("listen:", "listen: lists no listener; give at least one"));
    }
    let mut out: Vec<ListenerSpec> = Vec::new();
    for entry in entries {
        let address = at.address("address", &entry.address).map_err(|_| {
            at.error(
                &entry.address,
                &format!(
                    "listener address {:?} is not IP:PORT (e.g. 127.0.0.1:8443)",
                    entry.address
                ),
            )
        })?;
        if address.port() != 0 && out.iter().any(|l| l.address == address) {
            return Err(at.error(
                &entry.address,
                &format!("two listeners are on {address}; give each its own address"),
            ));
        }
        let tls = entry
            .tls
            .map(|tls| listener_tls(at, base, &entry.address, tls))
            .transpose()?;
        out.push(ListenerSpec { address, tls });
    }
    Ok(out)
}

fn listener_tls(
    at: &Locator<'_>,
    base: &Path,
    address: &str,
    tls: FileTls,
) -> Result<ListenerTls, ConfigError> {
    if tls.certificates.is_empty() {
        return Err(at.error(
            "tls:",
            &format!("the TLS listener {address} has no certificates; add cert: and key: files"),
        ));
    }
    let settings = ListenerTls {
        certificates: tls
            .certificates
            .iter()
            .map(|c| CertificateSpec {
                cert: base.join(&c.cert),
                key: base.join(&c.key),
            })
            .collect(),
        client_ca: tls.client_ca.as_ref().map(|ca| base.join(ca)),
        require_client_certificate: tls.require_client_certificate,
    };
    if settings.require_client_certificate && settings.client_ca.is_none() {
        return Err(at.error(
            "require_client_certificate",
            &format!(
                "the TLS listener {address} requires client certificates but names no client_ca to check them with"
            ),
        ));
    }
    if let Err(e) = ServerTls::load(&settings) {
        // The line of the file the error is about, else the listener's.
        let needle = tls
            .certificates
            .iter()
            .flat_map(|c| [c.cert.as_str(), c.key.as_str()])
            .chain(tls.client_ca.as_deref())
            .find(|file| {
                e.to_string()
                    .contains(&base.join(file).display().to_string())
            })
            .unwrap_or(address);
        return Err(at.error(needle, &format!("TLS listener {address}: {e}")));
    }
    Ok(settings)
}

/// The edge limits of `edge`, over the defaults.
pub(super) fn edge_limits(at: &Locator<'_>, edge: FileEdge) -> Result<EdgeLimits, ConfigError> {
    let mut limits = EdgeLimits::default();
    let millis = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
    if let Some(ms) = edge.request_headers_timeout_ms {
        limits.request_headers_timeout = millis(ms);
    }
    if let Some(ms) = edge.idle_timeout_ms {
        limits.idle_timeout = millis(ms);
    }
    if let Some(ms) = edge.stream_idle_timeout_ms {
        limits.stream_idle_timeout = millis(ms);
    }
    if let Some(kb) = edge.max_request_headers_kb {
        if !(1..=8192).contains(&kb) {
            return Err(at.error(
                "max_request_headers_kb",
                "max_request_headers_kb must be from 1 to 8192 (as Envoy's)",
            ));
        }
        limits.max_request_headers_bytes = kb << 10;
    }
    if let Some(count) = edge.max_request_headers_count {
        if count == 0 {
            return Err(at.error(
                "max_request_headers_count",
                "max_request_headers_count must be at least 1",
            ));
        }
        limits.max_request_headers_count = count;
    }
    if let Some(max) = edge.max_connections_per_worker {
        limits.max_connections_per_worker = (max > 0).then_some(max);
    }
    if let Some(streams) = edge.http2_max_concurrent_streams {
        if streams == 0 {
            return Err(at.error(
                "http2_max_concurrent_streams",
                "http2_max_concurrent_streams must be at least 1",
            ));
        }
        limits.http2_max_concurrent_streams = streams;
    }
    if let Some(resets) = edge.http2_max_pending_reset_streams {
        limits.http2_max_pending_reset_streams = resets;
    }
    if let Some(ms) = edge.drain_timeout_ms {
        limits.drain_timeout = Duration::from_millis(ms);
    }
    if let Some(allow) = edge.http2_allow_connect {
        limits.http2_allow_connect = allow;
    }
    if let Some(accept) = edge.accept_http_10 {
        limits.accept_http_10 = accept;
    }
    Ok(limits)
}
