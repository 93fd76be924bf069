//! The repository's example plugins, built once per test process: Rust plugins with
//! `scripts/build-rust-plugins.sh`, Go plugins with `scripts/build-go-plugins.sh`, into
//! `target/plugins/{rust,go}/`. `WASMGATE_PLUGIN_DIR` points at prebuilt ones instead.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// A plugin language of `examples/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// `examples/rust`.
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

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn plugin_dir(lang: Lang) -> PathBuf {
    match std::env::var_os("WASMGATE_PLUGIN_DIR") {
        Some(dir) => PathBuf::from(dir).join(lang.dir()),
        None => repo_root().join("target/plugins").join(lang.dir()),
    }
}

/// The path of an example plugin, building the examples of that language first (once per
/// process). Panics with the build's output if the build fails: this is for tests.
pub fn example(lang: Lang, name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<Lang>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    let dir = plugin_dir(lang);
    if !built.contains(&lang) && std::env::var_os("WASMGATE_PLUGIN_DIR").is_none() {
        build(lang, &dir);
        built.push(lang);
    }
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "example plugin {} was not built",
        path.display()
    );
    path
}

fn build(lang: Lang, dir: &PathBuf) {
    let root = repo_root();
    let script = root.join(format!("scripts/build-{}-plugins.sh", lang.dir()));
    let mut command = Command::new("bash");
    command.arg(&script).arg(dir);
    if lang == Lang::Rust {
        command.env("CARGO_TARGET_DIR", root.join("target/examples"));
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "building the {} examples failed:\n{}\n{}",
        lang.dir(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
