//! [`PluginUrl`]: a plugin source as written: a local file (a path or `file://`), an
//! `oci://` image (`registry/repository:tag`, `@sha256:…` or both) or an `http(s)://` URL.

use std::path::{Path, PathBuf};

use crate::error::ImageError;

/// Where a plugin's wasm comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginUrl {
    /// A local file (relative paths are relative to the file that names them).
    File(PathBuf),
    /// An OCI image reference, without `oci://` (`registry/repo:tag[@sha256:…]`).
    Oci(String),
    /// An `http://` or `https://` URL.
    Http(String),
}

impl PluginUrl {
    /// Reads `text`; a relative file is taken relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<PluginUrl, ImageError> {
        if let Some(image) = text.strip_prefix("oci://") {
            if image.is_empty() || !image.contains('/') {
                return Err(ImageError::BadUrl {
                    url: text.into(),
                    reason: "an oci:// URL names registry/repository[:tag][@sha256:digest]".into(),
                });
            }
            return Ok(PluginUrl::Oci(image.to_string()));
        }
        if text.starts_with("http://") || text.starts_with("https://") {
            return Ok(PluginUrl::Http(text.to_string()));
        }
        if let Some(scheme) = text.split_once("://").map(|(s, _)| s) {
            if scheme != "file" {
                return Err(ImageError::BadUrl {
                    url: text.into(),
                    reason: format!(
                        "the scheme {scheme}:// is not one wasmgate reads (file://, oci://, http://, https://)"
                    ),
                });
            }
        }
        let path = text.strip_prefix("file://").unwrap_or(text);
        Ok(PluginUrl::File(base.join(path)))
    }

    /// Whether it is fetched from the network (an image or a URL).
    pub fn is_remote(&self) -> bool {
        !matches!(self, PluginUrl::File(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_told_apart() {
        let base = Path::new("/etc/wasmgate");
        assert_eq!(
            PluginUrl::parse("oci://127.0.0.1:5000/plugins/hello:1.0.0", base).unwrap(),
            PluginUrl::Oci("127.0.0.1:5000/plugins/hello:1.0.0".into())
        );
        assert_eq!(
            PluginUrl::parse("https://example.com/p.wasm", base).unwrap(),
            PluginUrl::Http("https://example.com/p.wasm".into())
        );
        assert_eq!(
            PluginUrl::parse("file://p.wasm", base).unwrap(),
            PluginUrl::File("/etc/wasmgate/p.wasm".into())
        );
        assert!(PluginUrl::parse("oci://nothing", base).is_err());
        assert!(PluginUrl::parse("ftp://x/y.wasm", base).is_err());
    }
}
