//! Loading a plugin `.wasm`: validation, the ABI version marker, and the on-disk cache of
//! compiled modules (keyed by the wasm's SHA-256 and the engine's settings), so a second
//! start with the same plugin does not compile again.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmgate_abi::AbiVersion;
use wasmtime::Module;

use crate::error::HostError;
use crate::runtime::Runtime;

/// A compiled plugin, ready to be instantiated into VMs. Cheap to clone.
#[derive(Clone)]
pub struct PluginModule {
    pub(crate) module: Module,
    pub(crate) abi: AbiVersion,
    pub(crate) runtime: Runtime,
    from_cache: bool,
    sha256: String,
}

impl std::fmt::Debug for PluginModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginModule")
            .field("abi", &self.abi)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl PluginModule {
    /// Reads and compiles a plugin file.
    pub fn from_file(runtime: &Runtime, path: &Path) -> Result<Self, HostError> {
        let bytes = std::fs::read(path).map_err(|source| HostError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(runtime, &path.display().to_string(), &bytes)
    }

    /// Compiles plugin bytes (or takes them from the cache); `name` is used in errors.
    pub fn from_bytes(runtime: &Runtime, name: &str, bytes: &[u8]) -> Result<Self, HostError> {
        let not_wasm = |reason: String| HostError::NotWasm {
            name: name.to_string(),
            reason,
        };
        if !bytes.starts_with(b"\0asm") {
            return Err(not_wasm(
                "the file does not start with the wasm magic bytes".into(),
            ));
        }
        let sha256 = hex(&Sha256::digest(bytes));
        let cache_file = runtime
            .config()
            .cache_dir
            .as_ref()
            .map(|dir| cache_path(runtime, dir, &sha256));
        let cached = cache_file
            .as_deref()
            .and_then(|file| load_cached(runtime, file));
        let from_cache = cached.is_some();
        let module = match cached {
            Some(module) => module,
            None => {
                let module = Module::new(runtime.engine(), bytes)
                    .map_err(|e| not_wasm(one_line(&format!("{e:#}"))))?;
                if let Some(file) = &cache_file {
                    store_cached(&module, file);
                }
                module
            }
        };
        let abi = abi_version(name, &module)?;
        Ok(PluginModule {
            module,
            abi,
            runtime: runtime.clone(),
            from_cache,
            sha256,
        })
    }

    /// The ABI version the module declares.
    pub fn abi(&self) -> AbiVersion {
        self.abi
    }

    /// Whether the compiled code came from the on-disk cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The SHA-256 of the wasm bytes, in hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The runtime the module was compiled for.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }
}

fn abi_version(name: &str, module: &Module) -> Result<AbiVersion, HostError> {
    let mut found = Vec::new();
    let mut best = None;
    for export in module.exports() {
        if let Some(version) = AbiVersion::from_marker(export.name()) {
            best = best.max(Some(version));
        } else if export.name().starts_with("proxy_abi_version") {
            found.push(export.name().to_string());
        }
    }
    best.ok_or_else(|| HostError::UnknownAbi {
        name: name.to_string(),
        found: if found.is_empty() {
            "none".into()
        } else {
            found.join(", ")
        },
    })
}

fn cache_path(runtime: &Runtime, dir: &Path, sha256: &str) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    runtime
        .engine()
        .precompile_compatibility_hash()
        .hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()))
}

fn load_cached(runtime: &Runtime, file: &Path) -> Option<Module> {
    // Read into memory rather than map the file: a cache file truncated under a running
    // gateway must not take the process down.
    let bytes = std::fs::read(file).ok()?;
    // SAFETY: the file was written by `Module::serialize` of this same engine
    // configuration (its name carries the engine's compatibility hash), into a
    // directory of this user's; wasmtime re-checks the header and rejects a mismatch.
    match unsafe { Module::deserialize(runtime.engine(), &bytes) } {
        Ok(module) => Some(module),
        Err(e) => {
            tracing::warn!("ignoring unusable cached module {}: {e}", file.display());
            None
        }
    }
}

fn store_cached(module: &Module, file: &Path) {
    let result = module
        .serialize()
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            let dir = file.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, file).map_err(|e| e.to_string())
        });
    if let Err(e) = result {
        tracing::warn!(
            "cannot cache the compiled module at {}: {e}",
            file.display()
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Folds a multi-line message into one line.
pub(crate) fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}
