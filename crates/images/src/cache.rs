//! The content-addressed cache of plugin modules: `<cache>/images/sha256/<hex>.wasm` holds a
//! module by the sha256 of its bytes; `<cache>/images/refs/<name>` remembers which module an
//! image reference or URL gave (with the image's digest), so a tag pulled once is found
//! offline. Writes go to a temporary file renamed into place.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::ImageError;

/// A module as the cache keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cached {
    /// The `.wasm` file.
    pub(crate) path: PathBuf,
    /// The digest of what it came from: an image's manifest digest, or the module's own
    /// sha256 for a URL (hex, no `sha256:` prefix).
    pub(crate) digest: String,
}

pub(crate) struct Cache {
    root: PathBuf,
}

/// The hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Cache {
    pub(crate) fn new(cache_dir: &Path) -> Cache {
        Cache {
            root: cache_dir.join("images"),
        }
    }

    fn ref_file(&self, source: &str) -> PathBuf {
        let name: String = source
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // Names can collide once sanitized; the source's own hash keeps them apart.
        let tag = &sha256_hex(source.as_bytes())[..12];
        self.root.join("refs").join(format!("{name}-{tag}"))
    }

    /// What `source` gave last time, if its module is still there.
    pub(crate) fn lookup(&self, source: &str) -> Option<Cached> {
        let text = std::fs::read_to_string(self.ref_file(source)).ok()?;
        let (module, digest) = text.trim().split_once(' ')?;
        let path = self.root.join("sha256").join(format!("{module}.wasm"));
        path.is_file().then(|| Cached {
            path,
            digest: digest.to_string(),
        })
    }

    /// Keeps `wasm`, fetched from `source` with `digest`.
    pub(crate) fn store(
        &self,
        source: &str,
        wasm: &[u8],
        digest: &str,
    ) -> Result<Cached, ImageError> {
        let module = sha256_hex(wasm);
        let path = self.root.join("sha256").join(format!("{module}.wasm"));
        write_atomically(&path, wasm)?;
        write_atomically(
            &self.ref_file(source),
            format!("{module} {digest}\n").as_bytes(),
        )?;
        Ok(Cached {
            path,
            digest: digest.to_string(),
        })
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| ImageError::io(format!("cache {}", dir.display()), e))?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, bytes)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| ImageError::io(format!("cache {}", path.display()), e))
}
