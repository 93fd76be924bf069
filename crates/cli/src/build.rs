//! `wasmgate build [DIR]`: builds a plugin project (Rust: a `Cargo.toml`; Go: a `go.mod`
//! above or in DIR) in release for `wasm32-wasip1`, writes `main.wasm` (or `-o`), and prints
//! its size and ABI marker. It checks the toolchain first and says how to install what is
//! missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use wasmgate_host::inspect::inspect;
use wasmgate_testkit::build::{release_build, wasm_artifact};

/// Arguments of `wasmgate build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The plugin project (default: the current directory).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the plugin (default: DIR/main.wasm).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Then push it to `oci://registry/repository:tag` (as `wasmgate push`).
    #[arg(long, value_name = "IMAGE")]
    push: Option<String>,
    #[command(flatten)]
    registry: crate::push::RegistryArgs,
}

/// `wasmgate build`.
pub fn build(args: BuildArgs) -> Result<()> {
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("{} does not exist", args.dir.display()))?;
    let output = args.output.unwrap_or_else(|| dir.join("main.wasm"));
    let started = Instant::now();
    build_project(&dir, &output)?;
    let bytes =
        std::fs::read(&output).with_context(|| format!("cannot read {}", output.display()))?;
    let report = inspect(&bytes)?;
    let marker = report
        .abi
        .map(|a| a.marker())
        .unwrap_or("none (not a proxy-wasm plugin?)");
    let missing = report.missing().count();
    println!(
        "built {} ({} bytes, {marker}, {} missing host functions) in {:.1}s",
        output.display(),
        bytes.len(),
        missing,
        started.elapsed().as_secs_f64()
    );
    if let Some(target) = &args.push {
        crate::push::push_file(&output, target, &args.registry)?;
    }
    Ok(())
}

/// Builds a Rust or Go plugin project into `output`.
pub fn build_project(dir: &Path, output: &Path) -> Result<()> {
    if dir.join("Cargo.toml").is_file() {
        build_rust(dir, output)
    } else if dir.join("go.mod").is_file() || has_go_files(dir) {
        build_go(dir, output)
    } else {
        bail!("{} has neither a Cargo.toml (Rust) nor Go files: run wasmgate build in a plugin project", dir.display())
    }
}

/// The sources of a plugin project (what a change of means a rebuild).
pub fn project_sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                    pending.push(path);
                }
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("rs" | "go" | "toml" | "mod" | "sum")
            ) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn has_go_files(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "go"))
        })
        .unwrap_or(false)
}

fn need(tool: &str, how: &str) -> Result<()> {
    let found = Command::new(tool)
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        bail!("{tool} is not installed: {how}");
    }
    Ok(())
}

fn build_rust(dir: &Path, output: &Path) -> Result<()> {
    need("cargo", "install Rust with rustup (https://rustup.rs)")?;
    let targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    if let Ok(targets) = targets {
        if !String::from_utf8_lossy(&targets.stdout)
            .lines()
            .any(|t| t == "wasm32-wasip1")
        {
            bail!(
                "the Rust target wasm32-wasip1 is missing: run `rustup target add wasm32-wasip1`"
            );
        }
    }
    println!(
        "building {} (cargo build --release --target wasm32-wasip1)…",
        dir.display()
    );
    let out = release_build("cargo", dir)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    if !out.status.success() {
        bail!("cargo build failed (its messages are above)");
    }
    let artifact = wasm_artifact(&String::from_utf8_lossy(&out.stdout), dir);
    let Some(artifact) = artifact else {
        bail!(
            "cargo built no .wasm for {}: the crate needs `[lib] crate-type = [\"cdylib\"]`",
            dir.display()
        );
    };
    std::fs::copy(&artifact, output)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(())
}

fn build_go(dir: &Path, output: &Path) -> Result<()> {
    need("go", "install Go 1.24 or newer (https://go.dev/dl)")?;
    println!(
        "building {} (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared)…",
        dir.display()
    );
    let status = Command::new("go")
        .args(["build", "-buildmode=c-shared", "-trimpath", "-o"])
        .arg(output)
        .arg(".")
        .current_dir(dir)
        .env("GOOS", "wasip1")
        .env("GOARCH", "wasm")
        .env(
            "GOTOOLCHAIN",
            std::env::var("GOTOOLCHAIN").unwrap_or_else(|_| "local".into()),
        )
        .status()
        .context("cannot run go")?;
    if !status.success() {
        bail!("go build failed (its messages are above)");
    }
    Ok(())
}
