//! Loading a plugin `.wasm`: validation, the ABI version marker, and the on-disk cache of
//! compiled modules (keyed by the wasm's SHA-256 and the engine's settings), so a second
//! start with the same plugin does not compile again. A large plugin missing from the cache
//! starts on baseline code while its optimized code is compiled into the cache in the
//! background (the quick start of [`RuntimeConfig`](crate::RuntimeConfig)).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmgate_abi::AbiVersion;
use wasmtime::Module;

use crate::error::HostError;
use crate::runtime::{Runtime, Tier, QUICK_START_MIN_BYTES};

/// A compiled plugin, ready to be instantiated into VMs. Cheap to clone.
#[derive(Clone)]
pub struct PluginModule {
    pub(crate) module: Module,
    pub(crate) abi: AbiVersion,
    pub(crate) runtime: Runtime,
    tier: Tier,
    from_cache: bool,
    sha256: String,
    /// Where its optimized code is (or will be) cached.
    cache_file: Option<PathBuf>,
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
        Self::from_file_or_known(runtime, path, &[])
    }

    /// Reads a plugin file; when its bytes are those of one of `known` (modules the caller
    /// runs already, as before a reload) compiled with the same settings, that module is
    /// taken again (its optimized code if the cache has it by now) instead of compiling.
    pub fn from_file_or_known(
        runtime: &Runtime,
        path: &Path,
        known: &[PluginModule],
    ) -> Result<Self, HostError> {
        let bytes = std::fs::read(path).map_err(|source| HostError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let same = known
            .iter()
            .find(|m| m.sha256 == sha256 && m.runtime.config() == runtime.config());
        match same {
            Some(module) => Ok(module.optimized().unwrap_or_else(|| module.clone())),
            None => Self::compile_bytes(runtime, &path.display().to_string(), &bytes, sha256),
        }
    }

    /// Compiles plugin bytes (or takes them from the cache); `name` is used in errors.
    pub fn from_bytes(runtime: &Runtime, name: &str, bytes: &[u8]) -> Result<Self, HostError> {
        Self::compile_bytes(runtime, name, bytes, hex(&Sha256::digest(bytes)))
    }

    fn compile_bytes(
        runtime: &Runtime,
        name: &str,
        bytes: &[u8],
        sha256: String,
    ) -> Result<Self, HostError> {
        let not_wasm = |reason: String| HostError::NotWasm {
            name: name.to_string(),
            reason,
        };
        if !bytes.starts_with(b"\0asm") {
            return Err(not_wasm(
                "the file does not start with the wasm magic bytes".into(),
            ));
        }
        let cache_file = runtime
            .config()
            .cache_dir
            .as_ref()
            .map(|dir| cache_path(runtime, dir, &sha256));
        let cached = cache_file
            .as_deref()
            .and_then(|file| load_cached(runtime, file));
        let from_cache = cached.is_some();
        let (module, tier) = match (cached, cache_file.clone()) {
            (Some(module), _) => (module, Tier::Optimized),
            (None, Some(file)) if bytes.len() >= QUICK_START_MIN_BYTES => {
                match quick_start(runtime, name, bytes, file) {
                    Some(module) => (module, Tier::Baseline),
                    None => (compile(runtime, name, bytes, None)?, Tier::Optimized),
                }
            }
            (None, file) => (
                compile(runtime, name, bytes, file.as_deref())?,
                Tier::Optimized,
            ),
        };
        let abi = abi_version(name, &module)?;
        Ok(PluginModule {
            module,
            abi,
            runtime: runtime.clone(),
            tier,
            from_cache,
            sha256,
            cache_file,
        })
    }

    /// For a module on baseline code: the same plugin on optimized code, once the background
    /// compile has put that in the cache; `None` until then, and for a module that already
    /// runs optimized code. New VMs of the returned module run faster; VMs of this one keep
    /// running as they are.
    pub fn optimized(&self) -> Option<PluginModule> {
        if self.tier != Tier::Baseline {
            return None;
        }
        let file = self.cache_file.as_deref().filter(|file| file.exists())?;
        let module = load_cached(&self.runtime, file)?;
        Some(PluginModule {
            module,
            tier: Tier::Optimized,
            from_cache: true,
            ..self.clone()
        })
    }

    /// Whether both hold the same compiled code (one compile, shared).
    pub fn same_code(&self, other: &PluginModule) -> bool {
        Module::same(&self.module, &other.module)
    }

    /// The ABI version the module declares.
    pub fn abi(&self) -> AbiVersion {
        self.abi
    }

    /// Which compiler's code the module runs.
    pub fn tier(&self) -> Tier {
        self.tier
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

/// Compiles optimized code, and stores it in the cache when `cache_file` is given.
fn compile(
    runtime: &Runtime,
    name: &str,
    bytes: &[u8],
    cache_file: Option<&Path>,
) -> Result<Module, HostError> {
    let module = Module::new(runtime.engine(), bytes).map_err(|e| HostError::NotWasm {
        name: name.to_string(),
        reason: one_line(&format!("{e:#}")),
    })?;
    if let Some(file) = cache_file {
        store_cached(&module, file);
    }
    Ok(module)
}

/// Compiles baseline code to start with, and optimized code into `cache_file` on a thread
/// of its own (once per file at a time). `None` when there is no baseline compiler or it
/// cannot compile this module: the caller compiles optimized code instead.
fn quick_start(runtime: &Runtime, name: &str, bytes: &[u8], cache_file: PathBuf) -> Option<Module> {
    let baseline = runtime.compiler(Tier::Baseline)?;
    let started = Instant::now();
    let module = match Module::new(&baseline.engine, bytes) {
        Ok(module) => module,
        Err(e) => {
            tracing::info!("{name}: no quick start, the baseline compiler refused it: {e}");
            return None;
        }
    };
    tracing::info!(
        "{name}: started on baseline code (compiled in {} ms); optimized code is being compiled into the cache",
        started.elapsed().as_millis()
    );
    compile_in_background(runtime, name, bytes, cache_file);
    Some(module)
}

/// Compiles optimized code into `cache_file` on a thread of its own, unless a compile of that
/// file is already under way in this process.
fn compile_in_background(runtime: &Runtime, name: &str, bytes: &[u8], cache_file: PathBuf) {
    static IN_FLIGHT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let release = |file: &PathBuf| {
        if let Ok(mut files) = IN_FLIGHT.lock() {
            files.retain(|f| f != file);
        }
    };
    let claimed = IN_FLIGHT.lock().ok().is_some_and(|mut files| {
        let free = !files.contains(&cache_file);
        if free {
            files.push(cache_file.clone());
        }
        free
    });
    if !claimed {
        return;
    }
    let (runtime, task_name, bytes, file) = (
        runtime.clone(),
        name.to_string(),
        bytes.to_vec(),
        cache_file.clone(),
    );
    let spawned = std::thread::Builder::new()
        .name("wasmgate-compile".into())
        .spawn(move || {
            let name = task_name;
            let started = Instant::now();
            match compile(&runtime, &name, &bytes, Some(&file)) {
                Ok(_) => tracing::info!(
                    "{name}: optimized code cached after {} ms",
                    started.elapsed().as_millis()
                ),
                Err(e) => tracing::warn!("{name}: optimized compile failed: {e}"),
            }
            release(&file);
        });
    if let Err(e) = spawned {
        tracing::warn!("{name}: cannot compile optimized code in the background: {e}");
        release(&cache_file);
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
