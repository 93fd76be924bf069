//! `wasmgate push`: a module as an image Higress, Istio and Envoy Gateway all pull (the
//! Higress form: a gzip layer tarball holding `plugin.wasm`, an OCI image config), with the
//! `url` and `sha256` a WasmPlugin names it by.

use crate::blocking::blocking;
use crate::error::ImageError;
use crate::registry::Registry;
use crate::settings::FetchSettings;
use crate::url::PluginUrl;

/// A pushed image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `oci://registry/repository:tag`, as given.
    pub url: String,
    /// The manifest digest, `sha256:…`.
    pub digest: String,
}

impl Pushed {
    /// The digest as a WasmPlugin's `sha256` (hex).
    pub fn sha256(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

pub(crate) fn push(
    settings: &FetchSettings,
    module: &[u8],
    target: &str,
) -> Result<Pushed, ImageError> {
    let PluginUrl::Oci(image) = PluginUrl::parse(target, std::path::Path::new("."))? else {
        return Err(ImageError::BadUrl {
            url: target.into(),
            reason: "push takes oci://registry/repository:tag".into(),
        });
    };
    if !module.starts_with(b"\0asm") {
        return Err(ImageError::NotWasm {
            image: target.into(),
            detail: "the file to push is not a wasm module".into(),
        });
    }
    let registry = Registry::new(&image, settings, None)?;
    let digest = blocking(registry.push(module))?;
    Ok(Pushed {
        url: target.to_string(),
        digest,
    })
}
