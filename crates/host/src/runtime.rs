//! The wasmtime engine shared by every plugin VM: its settings, the linker that holds every
//! host function, and the epoch ticker that lets a call's time limit interrupt a guest.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Config, Engine, Linker};

use crate::error::HostError;
use crate::hostcalls;
use crate::state::HostState;

/// How often the engine's epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Settings of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled modules are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: default_cache_dir(),
        }
    }
}

/// The limits of one VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmLimits {
    /// The most linear memory the VM may have, in bytes.
    pub memory: usize,
    /// How long one callback may run before it is interrupted (treated as a trap).
    pub call_timeout: Duration,
    /// How long start-up (`_initialize`, `on_vm_start`, `on_configure`) may run.
    pub start_timeout: Duration,
}

impl Default for VmLimits {
    fn default() -> Self {
        VmLimits {
            memory: 256 << 20,
            call_timeout: Duration::from_secs(1),
            start_timeout: Duration::from_secs(10),
        }
    }
}

/// `$WASMGATE_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmgate`, else `~/.cache/wasmgate`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WASMGATE_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("wasmgate"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("wasmgate"))
}

/// The engine and the linker every VM is built with. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) config: RuntimeConfig,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Builds the engine and links every host function.
    pub fn new(config: RuntimeConfig) -> Result<Self, HostError> {
        let mut wasm_config = Config::new();
        wasm_config.epoch_interruption(true);
        wasm_config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(20));
        let engine = Engine::new(&wasm_config).map_err(|e| HostError::Engine(e.to_string()))?;
        let linker = hostcalls::linker(&engine).map_err(|e| HostError::Engine(e.to_string()))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone());
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                config,
                ticker_stop,
            }),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The runtime's settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Whether the host provides the import `module.name` (for `wasmgate inspect`).
    pub fn provides(&self, module: &str, name: &str) -> bool {
        hostcalls::provides(module, name)
    }
}

fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("wasmgate-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the epoch ticker, plugin time limits are off: {e}");
    }
}

/// The number of epoch ticks that make up `timeout` (at least one).
pub(crate) fn ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}
