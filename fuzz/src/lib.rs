//! What the fuzz targets share: a scratch directory per process, and the check that keeps
//! a fuzzed configuration from reaching the network or a device file (a loader fetches
//! `oci://` and `http(s)://` plugins and reads the files a configuration names).

use std::path::PathBuf;
use std::sync::OnceLock;

/// A directory of this process's own, made once.
pub fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wasmgate-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    })
}

/// Whether a fuzzed configuration stays offline and away from device and system files.
pub fn stays_local(text: &str) -> bool {
    let without_files = text.replace("file://", "");
    !["://", "/dev", "/proc", "/sys"]
        .iter()
        .any(|needle| without_files.contains(needle))
}
pub mod driver;
