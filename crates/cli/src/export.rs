//! `wasmgate export higress|envoy -c wasmgate.yaml [-o DIR]`: the configuration, checked as
//! `run` checks it, written for a Higress or Envoy fleet by `wasmgate_proxy::export`. Notes
//! on what the target does differently go to stderr and, as `#` comments, into the YAML.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;
use wasmgate_proxy::export;

/// `wasmgate export`.
#[derive(Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    target: Target,
}

#[derive(Subcommand)]
enum Target {
    /// WasmPlugin resources for the plugins, Ingress and McpBridge resources for the routes
    /// and clusters, as Higress's controller reads them.
    Higress(Files),
    /// An Envoy bootstrap (listeners, routes, clusters, one wasm filter per plugin) that
    /// Envoy 1.40 runs.
    Envoy(Files),
}

#[derive(Args)]
struct Files {
    /// The wasmgate.yaml to export.
    #[arg(short, long)]
    config: PathBuf,
    /// Write the files into this directory (created if missing) instead of printing them.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Runs `wasmgate export`.
pub fn export(args: ExportArgs) -> Result<()> {
    match args.target {
        Target::Higress(files) => higress(&files),
        Target::Envoy(files) => envoy(&files),
    }
}

fn higress(files: &Files) -> Result<()> {
    let config = wasmgate_proxy::load_config(&files.config)?;
    let out = export::higress(&config)?;
    print_notes(&out.notes);
    match &files.output {
        None => {
            let mut text = comments(&out.notes);
            for (_, resource) in &out.resources {
                text.push_str("---\n");
                text.push_str(&yaml(resource)?);
            }
            print!("{text}");
        }
        Some(dir) => {
            create(dir)?;
            for (name, resource) in &out.resources {
                write(&dir.join(name), &yaml(resource)?)?;
            }
            if !out.notes.is_empty() {
                write(&dir.join("NOTES"), &comments(&out.notes))?;
            }
            eprintln!(
                "wrote {} resources into {}",
                out.resources.len(),
                dir.display()
            );
        }
    }
    Ok(())
}

fn envoy(files: &Files) -> Result<()> {
    let config = wasmgate_proxy::load_config(&files.config)?;
    let dir = files.output.clone().unwrap_or_else(|| PathBuf::from("."));
    let out = export::envoy(&config, &dir)?;
    print_notes(&out.notes);
    let text = format!("{}{}", comments(&out.notes), yaml(&out.bootstrap)?);
    match &files.output {
        None => {
            if let Some(copy) = out.copies.first() {
                bail!(
                    "plugin {} has Higress's ABI marker 0_2_100, which upstream Envoy refuses: \
                     give -o DIR so that the export writes a copy marked 0_2_1 beside the bootstrap",
                    copy.plugin
                );
            }
            print!("{text}");
        }
        Some(dir) => {
            create(dir)?;
            for copy in &out.copies {
                std::fs::write(&copy.path, &copy.bytes)
                    .with_context(|| format!("cannot write {}", copy.path.display()))?;
            }
            let bootstrap = dir.join("envoy.yaml");
            write(&bootstrap, &text)?;
            eprintln!(
                "wrote {}; run: envoy -c {}",
                bootstrap.display(),
                bootstrap.display()
            );
        }
    }
    Ok(())
}

fn yaml(value: &Value) -> Result<String> {
    serde_yaml::to_string(value).context("cannot write YAML")
}

/// The notes as YAML comments.
fn comments(notes: &[String]) -> String {
    notes.iter().map(|n| format!("# note: {n}\n")).collect()
}

fn print_notes(notes: &[String]) {
    for note in notes {
        eprintln!("note: {note}");
    }
}

fn create(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
