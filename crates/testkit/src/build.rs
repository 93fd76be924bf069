//! Builds a Rust plugin crate for `wasm32-wasip1`, as `wasmgate build` does, so a plugin's
//! own `cargo test` can load the `.wasm` it is testing:
//!
//! ```no_run
//! let wasm = wasmgate_testkit::build::rust_plugin(env!("CARGO_MANIFEST_DIR"))
//!     .expect("the plugin builds");
//! let host = wasmgate_testkit::TestHost::builder(wasm).start();
//! ```
//!
//! The build is `cargo build --release --target wasm32-wasip1` in the crate's directory,
//! with the target directory cargo would use there (so it shares its work with
//! `wasmgate build`), once per process and crate. [`wasm_artifact`] finds the `.wasm` in
//! cargo's messages, for this build and for `wasmgate build`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

/// Why a plugin did not build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The directory is missing, or cargo could not be started.
    #[error("cannot build the plugin in {dir}: {source}")]
    Io {
        /// The crate's directory.
        dir: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// cargo failed; its messages.
    #[error("`cargo build --release --target wasm32-wasip1` failed in {dir}:\n{messages}{hint}")]
    Failed {
        /// The crate's directory.
        dir: PathBuf,
        /// What cargo printed.
        messages: String,
        /// What to do about it, when it is known.
        hint: String,
    },
    /// cargo succeeded but made no `.wasm`.
    #[error("{0} built no .wasm: its Cargo.toml needs `[lib] crate-type = [\"cdylib\"]`")]
    NoWasm(PathBuf),
}

/// Builds the plugin crate in `dir` (a directory with a `Cargo.toml`) for `wasm32-wasip1` in
/// release and returns the path of its `.wasm`. Cargo finds the crate's work done when
/// nothing changed; concurrent calls for the same crate build it once.
pub fn rust_plugin(dir: impl AsRef<Path>) -> Result<PathBuf, BuildError> {
    type Slot = Arc<Mutex<Option<PathBuf>>>;
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, Slot>>> = OnceLock::new();
    let dir = dir.as_ref().to_path_buf();
    let slot = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(dir.clone())
        .or_default()
        .clone();
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(wasm) = slot.as_ref() {
        return Ok(wasm.clone());
    }
    let wasm = cargo_build(&dir)?;
    *slot = Some(wasm.clone());
    Ok(wasm)
}

/// `cargo build --release --target wasm32-wasip1` of the project in `dir`, its messages as
/// JSON on stdout (for [`wasm_artifact`]) and rendered on stderr.
pub fn release_build(cargo: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(dir);
    command
}

fn cargo_build(dir: &Path) -> Result<PathBuf, BuildError> {
    let io = |source| BuildError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    let dir = &dir.canonicalize().map_err(io)?;
    // Under `cargo test`, CARGO is the cargo that runs the test: the same toolchain.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = release_build(cargo, dir)
        .stdin(Stdio::null())
        .output()
        .map_err(io)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let missing_target = stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
            || stderr.contains("can't find crate for `std`");
        let hint = if missing_target {
            "\nthe Rust target wasm32-wasip1 is missing: run `rustup target add wasm32-wasip1`"
        } else {
            ""
        };
        return Err(BuildError::Failed {
            dir: dir.to_path_buf(),
            messages: stderr,
            hint: hint.to_string(),
        });
    }
    wasm_artifact(&stdout, dir).ok_or_else(|| BuildError::NoWasm(dir.to_path_buf()))
}

/// The `.wasm` cargo built for the crate in `dir` (a `cdylib`), from the output of
/// `cargo build --message-format=json…`: the artifact whose manifest is `dir/Cargo.toml`.
pub fn wasm_artifact(cargo_json: &str, dir: &Path) -> Option<PathBuf> {
    cargo_json
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| {
            message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"))
        })
        .filter(|message| {
            message["manifest_path"]
                .as_str()
                .is_some_and(|path| Path::new(path).parent() == Some(dir))
        })
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|name| name.as_str().map(PathBuf::from))
        .find(|path| path.extension().is_some_and(|e| e == "wasm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifact_is_the_cdylib_wasm_of_the_crate_in_dir() {
        let message = |manifest: &str, kind: &str, file: &str| {
            serde_json::json!({
                "reason": "compiler-artifact",
                "manifest_path": manifest,
                "target": { "kind": [kind] },
                "filenames": [file],
            })
            .to_string()
        };
        let output = [
            message("/dep/Cargo.toml", "cdylib", "/t/dep.wasm"),
            message("/p/Cargo.toml", "lib", "/t/libp.rlib"),
            "Compiling p".to_string(),
            message("/p/Cargo.toml", "cdylib", "/t/p.wasm"),
        ]
        .join("\n");
        assert_eq!(
            wasm_artifact(&output, Path::new("/p")),
            Some(PathBuf::from("/t/p.wasm"))
        );
        assert_eq!(wasm_artifact(&output, Path::new("/q")), None);
    }
}
