//! The errors of the host runtime, worded for the person who runs the plugin.

use std::path::PathBuf;

/// What can go wrong when loading, starting or running a plugin.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The plugin file could not be read.
    #[error("cannot read plugin {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly module wasmtime accepts.
    #[error("{name} is not a valid WebAssembly module: {reason}")]
    NotWasm {
        /// The plugin's name or file.
        name: String,
        /// The compiler's reason.
        reason: String,
    },
    /// No `proxy_abi_version_*` export, or one this host does not know.
    #[error("{name}: missing or unknown Proxy-Wasm ABI version (exports {found}; expected one of proxy_abi_version_0_1_0, 0_2_0, 0_2_1, 0_2_100)")]
    UnknownAbi {
        /// The plugin's name or file.
        name: String,
        /// The marker-like exports found, or "none".
        found: String,
    },
    /// The module imports something the host does not provide.
    #[error("{name}: cannot instantiate: {reason}")]
    Instantiate {
        /// The plugin's name.
        name: String,
        /// wasmtime's reason (names the missing import).
        reason: String,
    },
    /// The module does not export a memory allocator.
    #[error("{name}: exports neither malloc nor proxy_on_memory_allocate")]
    NoAllocator {
        /// The plugin's name.
        name: String,
    },
    /// The plugin refused its configuration (`proxy_on_configure` or `proxy_on_vm_start`
    /// returned false).
    #[error("plugin {name} rejected its {what} (see its log lines above)")]
    Rejected {
        /// The plugin's name.
        name: String,
        /// "configuration" or "VM configuration".
        what: &'static str,
    },
    /// The guest trapped: a panic, an out-of-bounds access, the memory limit, or the
    /// time limit.
    #[error("plugin {name} crashed in {during}: {reason}")]
    Trap {
        /// The plugin's name.
        name: String,
        /// The callback that trapped.
        during: &'static str,
        /// The trap and its guest backtrace, on one line.
        reason: String,
    },
    /// A VM that trapped before is not used again; the embedder must rebuild it.
    #[error("plugin {name} is not usable after a crash; it must be rebuilt")]
    Poisoned {
        /// The plugin's name.
        name: String,
    },
    /// An engine or cache failure.
    #[error("wasm engine: {0}")]
    Engine(String),
}
