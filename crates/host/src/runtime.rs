//! The wasmtime engines shared by every plugin VM: their settings, the linkers that hold
//! every host function, and the epoch ticker that lets a call's time limit interrupt a guest.
//!
//! There are two compilers: Cranelift (optimized code, the one cached on disk) and, for a
//! quick start, Winch (a baseline compiler, about 6× faster to compile a 6 MB Go plugin,
//! slower code). See [`RuntimeConfig::quick_start`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Config, Engine, Linker, ProfilingStrategy, Strategy};

use crate::error::HostError;
use crate::hostcalls;
use crate::stacks::StackPool;
use crate::state::HostState;

/// How often the engine's epoch advances; call deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Settings of a [`Runtime`].
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    /// Where compiled modules are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Writes `/tmp/perf-<pid>.map` so `perf report` names the plugins' compiled functions.
    pub perf_map: bool,
    /// A large plugin (≥ [`QUICK_START_MIN_BYTES`]) with no optimized code in the cache is
    /// compiled by the baseline compiler to start at once, while optimized code is compiled
    /// in the background into the cache for the next start or reload. Needs `cache_dir`.
    pub quick_start: bool,
}

/// The smallest plugin that [`RuntimeConfig::quick_start`] applies to: Cranelift compiles
/// smaller ones (Rust plugins are 0.1–0.5 MB) in well under a second.
pub const QUICK_START_MIN_BYTES: usize = 1 << 20;

impl Default for RuntimeConfig {
    /// No cache, no perf map, quick start on (it does nothing without a cache).
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            perf_map: false,
            quick_start: true,
        }
    }
}

impl RuntimeConfig {
    /// The settings the environment asks for: the cache in [`default_cache_dir`],
    /// `$WASMGATE_PERF_MAP` (set to anything but `0`) for a perf map, and
    /// `$WASMGATE_QUICK_START=0` to compile optimized code before starting. For a program's
    /// edge (the `wasmgate` binary, a test harness); libraries take a `RuntimeConfig`.
    pub fn from_env() -> Self {
        RuntimeConfig {
            cache_dir: default_cache_dir(),
            perf_map: std::env::var_os("WASMGATE_PERF_MAP").is_some_and(|v| v != "0"),
            quick_start: std::env::var_os("WASMGATE_QUICK_START").is_none_or(|v| v != "0"),
        }
    }
}

/// Which compiler produced a module's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Cranelift: optimized code.
    Optimized,
    /// Winch: compiled fast, runs slower; replaced by optimized code once that is cached
    /// (see [`PluginModule::optimized`](crate::PluginModule::optimized)).
    Baseline,
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
    optimized: Compiler,
    baseline: Option<Compiler>,
    pub(crate) config: RuntimeConfig,
    ticker_stop: Arc<AtomicBool>,
    /// The ticks the epoch ticker made: what guest calls count their time limit in.
    pub(crate) epochs: Arc<AtomicU64>,
}

/// One compiler's engine and the linker built for it (a module runs only with its own).
pub(crate) struct Compiler {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
}

impl Compiler {
    fn new(config: &RuntimeConfig, strategy: Strategy) -> Result<Self, HostError> {
        let mut wasm_config = Config::new();
        wasm_config.strategy(strategy);
        wasm_config.epoch_interruption(true);
        wasm_config.with_host_stack(Arc::new(StackPool::default()));
        wasm_config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(20));
        if config.perf_map {
            wasm_config.profiler(ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&wasm_config).map_err(|e| HostError::Engine(e.to_string()))?;
        let linker = hostcalls::linker(&engine).map_err(|e| HostError::Engine(e.to_string()))?;
        Ok(Compiler { engine, linker })
    }
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// Builds the engines and links every host function.
    pub fn new(config: RuntimeConfig) -> Result<Self, HostError> {
        let optimized = Compiler::new(&config, Strategy::Cranelift)?;
        let baseline = if config.quick_start && config.cache_dir.is_some() {
            match Compiler::new(&config, Strategy::Winch) {
                Ok(compiler) => Some(compiler),
                Err(e) => {
                    tracing::warn!("no quick start: the baseline compiler is unavailable: {e}");
                    None
                }
            }
        } else {
            None
        };
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let mut engines = vec![optimized.engine.clone()];
        engines.extend(baseline.as_ref().map(|b| b.engine.clone()));
        let epochs = Arc::new(AtomicU64::new(0));
        spawn_epoch_ticker(engines, ticker_stop.clone(), epochs.clone());
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                optimized,
                baseline,
                config,
                ticker_stop,
                epochs,
            }),
        })
    }

    /// The engine of optimized code (the one the cache holds).
    pub fn engine(&self) -> &Engine {
        &self.inner.optimized.engine
    }

    /// The compiler of `tier`: the baseline one exists only with a quick start.
    pub(crate) fn compiler(&self, tier: Tier) -> Option<&Compiler> {
        match tier {
            Tier::Optimized => Some(&self.inner.optimized),
            Tier::Baseline => self.inner.baseline.as_ref(),
        }
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

fn spawn_epoch_ticker(engines: Vec<Engine>, stop: Arc<AtomicBool>, epochs: Arc<AtomicU64>) {
    let spawned = std::thread::Builder::new()
        .name("wasmgate-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                epochs.fetch_add(1, Ordering::Relaxed);
                for engine in &engines {
                    engine.increment_epoch();
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_reads_no_environment() {
        // HOME is set wherever the tests run, so the environment would give a cache.
        assert!(default_cache_dir().is_some());
        let config = RuntimeConfig::default();
        assert_eq!(config.cache_dir, None);
        assert!(!config.perf_map);
        assert!(config.quick_start);
    }
}
