//! [`Fetcher`]: a plugin's source to a local `.wasm`, as Istio's and Higress's pullers do it:
//! the content-addressed cache first unless the pull policy says `Always` (Higress's
//! default is `IfNotPresent`, and `Always` for the tag `latest` or no tag), then the registry
//! or URL; `sha256` checked (an image's manifest digest, or a URL's module, as Istio checks
//! them; a `@sha256:` reference must be what the registry gives). Blocking: each fetch runs
//! on a thread of its own with its own runtime, so it can be called from anywhere.

use std::path::PathBuf;

use crate::blocking::blocking;
use crate::cache::{sha256_hex, Cache, Cached};
use crate::error::ImageError;
use crate::http_url;
use crate::registry::Registry;
pub use crate::settings::FetchSettings;
use crate::url::PluginUrl;

/// `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Use the cached module when there is one.
    IfNotPresent,
    /// Ask the registry every time (a registry that cannot be reached is an error).
    Always,
}

impl PullPolicy {
    /// Reads a WasmPlugin's `imagePullPolicy` (`UNSPECIFIED_POLICY` and none are `None`:
    /// the default applies).
    pub fn parse(text: Option<&str>) -> Result<Option<PullPolicy>, String> {
        match text {
            None | Some("UNSPECIFIED_POLICY") | Some("") => Ok(None),
            Some("IfNotPresent") => Ok(Some(PullPolicy::IfNotPresent)),
            Some("Always") => Ok(Some(PullPolicy::Always)),
            Some(other) => Err(format!(
                "imagePullPolicy {other:?} is not IfNotPresent, Always or UNSPECIFIED_POLICY"
            )),
        }
    }
}

/// Where a plugin comes from and how to take it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginSource {
    /// `oci://…` or `http(s)://…`, as written.
    pub url: String,
    /// The expected sha256 (hex, with or without `sha256:`).
    pub sha256: Option<String>,
    /// The pull policy; `None` is the default (see the module docs).
    pub pull_policy: Option<PullPolicy>,
    /// A pull secret: its name (for errors) and its docker config text.
    pub pull_secret: Option<(String, String)>,
}

/// Fetches plugin modules.
pub struct Fetcher {
    settings: FetchSettings,
    cache: Cache,
}

/// The expected digest as hex.
fn hex(digest: &str) -> String {
    digest
        .trim()
        .trim_start_matches("sha256:")
        .to_ascii_lowercase()
}

impl Fetcher {
    /// A fetcher with `settings`.
    pub fn new(settings: FetchSettings) -> Fetcher {
        let cache = Cache::new(&settings.cache_dir);
        Fetcher { settings, cache }
    }

    /// The local `.wasm` of `source`.
    pub fn fetch(&self, source: &PluginSource) -> Result<PathBuf, ImageError> {
        let url = PluginUrl::parse(&source.url, std::path::Path::new("."))?;
        let expected = source.sha256.as_deref().map(hex);
        let policy = source.pull_policy.unwrap_or(match &url {
            PluginUrl::Oci(image) if latest(image) => PullPolicy::Always,
            _ => PullPolicy::IfNotPresent,
        });
        if policy == PullPolicy::IfNotPresent {
            if let Some(cached) = self.cache.lookup(&source.url) {
                if expected.as_ref().is_none_or(|e| *e == cached.digest) {
                    return Ok(cached.path);
                }
            }
        }
        let cached = match url {
            PluginUrl::File(path) => return Ok(path),
            PluginUrl::Oci(image) => self.pull(&image, source)?,
            PluginUrl::Http(address) => {
                let module = blocking(http_url::download(&address, &self.settings))?;
                let digest = sha256_hex(&module);
                check(&source.url, expected.as_deref(), &digest)?;
                self.cache.store(&source.url, &module, &digest)?
            }
        };
        check(&source.url, expected.as_deref(), &cached.digest)?;
        tracing::info!("fetched {} (sha256 {})", source.url, cached.digest);
        Ok(cached.path)
    }

    fn pull(&self, image: &str, source: &PluginSource) -> Result<Cached, ImageError> {
        let secret = source
            .pull_secret
            .as_ref()
            .map(|(name, text)| (name.as_str(), text.as_str()));
        let registry = Registry::new(image, &self.settings, secret)?;
        let pulled = blocking(registry.pull())?;
        if let Some((_, pinned)) = image.split_once("@sha256:") {
            check(&source.url, Some(&hex(pinned)), &pulled.digest)?;
        }
        check(
            &source.url,
            source.sha256.as_deref().map(hex).as_deref(),
            &pulled.digest,
        )?;
        self.cache
            .store(&source.url, &pulled.module, &pulled.digest)
    }

    /// Pushes `module` to `target` (`oci://…`).
    pub fn push(&self, module: &[u8], target: &str) -> Result<crate::push::Pushed, ImageError> {
        crate::push::push(&self.settings, module, target)
    }
}

/// The tag is `latest`, or there is none (and no digest): Higress pulls it always.
fn latest(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

fn check(image: &str, expected: Option<&str>, actual: &str) -> Result<(), ImageError> {
    match expected {
        Some(expected) if expected != actual => Err(ImageError::DigestMismatch {
            image: image.into(),
            expected: expected.into(),
            actual: actual.into(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_is_the_tag_latest_or_none() {
        assert!(latest("r.test/p/hello"));
        assert!(latest("r.test/p/hello:latest"));
        assert!(latest("127.0.0.1:5000/hello"));
        assert!(!latest("127.0.0.1:5000/hello:1.0"));
        assert!(!latest("r.test/p/hello@sha256:ab"));
    }

    #[test]
    fn pull_policies_read_as_higress_writes_them() {
        assert_eq!(PullPolicy::parse(Some("UNSPECIFIED_POLICY")), Ok(None));
        assert_eq!(
            PullPolicy::parse(Some("Always")),
            Ok(Some(PullPolicy::Always))
        );
        assert!(PullPolicy::parse(Some("Never")).is_err());
    }
}
