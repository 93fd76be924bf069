//! `wasmgate push FILE oci://registry/repository:tag` (and `wasmgate build --push`): a
//! plugin as an image Higress, Istio and Envoy Gateway all pull, without Docker; it prints
//! the digest and the `url`/`sha256` a WasmPlugin names it by. Credentials come from the
//! docker config files (`DOCKER_CONFIG`, `~/.docker/config.json`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use wasmgate_images::{FetchSettings, Fetcher};

/// Arguments of `wasmgate push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// The plugin `.wasm`.
    wasm: PathBuf,
    /// Where to push it: `oci://registry/repository:tag`.
    target: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// How to reach the registry.
#[derive(Args, Debug, Default)]
pub struct RegistryArgs {
    /// A PEM file of CA certificates to trust besides the public roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Speak plain HTTP to the registry (loopback registries are tried over HTTPS, then HTTP).
    #[arg(long)]
    pub insecure: bool,
}

/// `wasmgate push`.
pub fn push(args: PushArgs) -> Result<()> {
    push_file(&args.wasm, &args.target, &args.registry)
}

/// Pushes the module in `wasm` to `target` and prints what a WasmPlugin needs.
pub fn push_file(wasm: &Path, target: &str, registry: &RegistryArgs) -> Result<()> {
    let module = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let mut settings = FetchSettings {
        ca_file: registry.ca_file.clone(),
        ..wasmgate_proxy::default_fetch_settings()
    };
    if registry.insecure {
        let host = target
            .trim_start_matches("oci://")
            .split('/')
            .next()
            .unwrap_or_default();
        settings.insecure_registries.push(host.to_string());
    }
    let pushed = Fetcher::new(settings).push(&module, target)?;
    println!(
        "pushed {} ({} bytes) as {}",
        wasm.display(),
        module.len(),
        pushed.digest
    );
    println!("in a WasmPlugin:");
    println!("  url: {}", pushed.url);
    println!("  sha256: {}", pushed.sha256());
    Ok(())
}
