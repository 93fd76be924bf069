//! [`ImageError`]: why a plugin image or URL could not be had, in one line that names it.

use thiserror::Error;

/// A failure to fetch or push a plugin image.
#[derive(Debug, Error)]
pub enum ImageError {
    /// The URL is not a plugin source wasmgate reads.
    #[error("{url}: {reason}")]
    BadUrl { url: String, reason: String },
    /// The registry refused the credentials (or wanted some).
    #[error("{image}: the registry refused access ({status}); credentials tried: {tried}")]
    Unauthorized {
        image: String,
        status: String,
        tried: String,
    },
    /// No such image, tag or URL.
    #[error("{image}: not found ({detail})")]
    NotFound { image: String, detail: String },
    /// The content's digest is not the one the config gives.
    #[error("{image}: sha256 mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        image: String,
        expected: String,
        actual: String,
    },
    /// The image holds no wasm module.
    #[error("{image}: not a wasm image: {detail}")]
    NotWasm { image: String, detail: String },
    /// The registry or server could not be reached.
    #[error("{image}: registry unreachable: {detail}")]
    Unreachable { image: String, detail: String },
    /// Anything else the registry or server said.
    #[error("{image}: {detail}")]
    Registry { image: String, detail: String },
    /// The local cache or a local file.
    #[error("{what}: {error}")]
    Io {
        what: String,
        #[source]
        error: std::io::Error,
    },
}

impl ImageError {
    pub(crate) fn io(what: impl Into<String>, error: std::io::Error) -> ImageError {
        ImageError::Io {
            what: what.into(),
            error,
        }
    }
}
