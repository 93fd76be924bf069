//! The repository's plugins, built once per test process: the Rust examples
//! (`examples/rust`) and the Rust fixture plugins (`tests/plugins`, [`fixture`]) together
//! with `scripts/build-rust-plugins.sh` into `target/plugins/rust/`; the Go examples with
//! `scripts/build-go-plugins.sh` into `target/plugins/go/`; and the Go plugins written for
//! the conformance suite (`tests/conformance/go`, [`conformance_go`]) into
//! `target/plugins/conformance-go/`, and its C plugins (`tests/conformance/c`,
//! [`conformance_c`]) with `scripts/build-c-plugins.sh` into `target/plugins/conformance-c/`. `WASMGATE_PLUGIN_DIR` points at prebuilt ones instead.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// A plugin language of `examples/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// `examples/rust` (built together with the fixtures of `tests/plugins`, see
    /// [`fixture`]).
    Rust,
    /// `examples/go`.
    Go,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Go => "go",
        }
    }
}

/// A set of plugins built together: the examples of a language, or the conformance suite's
/// own Go or C plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Example(Lang),
    ConformanceGo,
    ConformanceC,
}

impl Set {
    /// Its directory under `target/plugins` (and under `WASMGATE_PLUGIN_DIR`).
    fn dir(self) -> &'static str {
        match self {
            Set::Example(lang) => lang.dir(),
            Set::ConformanceGo => "conformance-go",
            Set::ConformanceC => "conformance-c",
        }
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn plugin_dir(set: Set) -> PathBuf {
    match std::env::var_os("WASMGATE_PLUGIN_DIR") {
        Some(dir) => PathBuf::from(dir).join(set.dir()),
        None => repo_root().join("target/plugins").join(set.dir()),
    }
}

/// The path of an example plugin, building the examples of that language first (once per
/// process). Panics with the build's output if the build fails: this is for tests.
pub fn example(lang: Lang, name: &str) -> PathBuf {
    plugin(Set::Example(lang), name)
}

/// The path of a Rust fixture plugin (`tests/plugins/<name>`: `abi-probe`, `faults`,
/// `sdk-probe`, `sdk-abi-wide`), a plugin that exists to test wasmgate. It is built with the
/// Rust examples (once per process), into the same directory.
pub fn fixture(name: &str) -> PathBuf {
    plugin(Set::Example(Lang::Rust), name)
}

/// The path of a Go plugin written for the conformance suite (`tests/conformance/go/<name>`),
/// built like the Go examples (once per process) into `target/plugins/conformance-go/`.
pub fn conformance_go(name: &str) -> PathBuf {
    plugin(Set::ConformanceGo, name)
}

/// The path of a C plugin written for the conformance suite (`tests/conformance/c/<name>.c`),
/// built with clang for wasm32-wasi (once per process) into `target/plugins/conformance-c/`.
pub fn conformance_c(name: &str) -> PathBuf {
    plugin(Set::ConformanceC, name)
}

fn plugin(set: Set, name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<Set>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    let dir = plugin_dir(set);
    if !built.contains(&set) && std::env::var_os("WASMGATE_PLUGIN_DIR").is_none() {
        build(set, &dir);
        built.push(set);
    }
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.is_file(), "plugin {} was not built", path.display());
    path
}

fn build(set: Set, dir: &PathBuf) {
    let root = repo_root();
    let script = root.join(match set {
        Set::Example(lang) => format!("scripts/build-{}-plugins.sh", lang.dir()),
        Set::ConformanceGo => "scripts/build-go-plugins.sh".into(),
        Set::ConformanceC => "scripts/build-c-plugins.sh".into(),
    });
    let mut command = Command::new("bash");
    command.arg(&script).arg(dir);
    match set {
        Set::Example(Lang::Rust) => {
            command.env("CARGO_TARGET_DIR", root.join("target/examples"));
        }
        Set::ConformanceGo => {
            command.env("WASMGATE_GO_SRC", root.join("tests/conformance/go"));
        }
        Set::Example(Lang::Go) => {
            command.env_remove("WASMGATE_GO_SRC");
        }
        Set::ConformanceC => {}
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "building the {} plugins failed:\n{}\n{}",
        set.dir(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
