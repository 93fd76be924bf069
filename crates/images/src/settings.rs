//! [`FetchSettings`]: how this machine fetches and pushes images (the cache dir, a CA file,
//! registries spoken to over plain HTTP).

use std::path::PathBuf;

/// How fetching is done on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchSettings {
    /// wasmgate's cache dir (modules go under `images/`).
    pub cache_dir: PathBuf,
    /// A PEM file of CA certificates trusted besides the public roots.
    pub ca_file: Option<PathBuf>,
    /// Registries (`host:port`) spoken to over plain HTTP.
    pub insecure_registries: Vec<String>,
}
