//! `wasmgate inspect`: what a plugin declares, and whether wasmgate provides what it imports.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use wasmgate_host::inspect::{inspect as read_report, Report};

/// Arguments of `wasmgate inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The plugin .wasm.
    wasm: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// `wasmgate inspect`.
pub fn inspect(args: InspectArgs) -> Result<()> {
    let bytes = std::fs::read(&args.wasm)
        .with_context(|| format!("cannot read {}", args.wasm.display()))?;
    let report = read_report(&bytes)
        .map_err(anyhow::Error::msg)
        .with_context(|| args.wasm.display().to_string())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json(&report))?);
    } else {
        print!("{}", text(&args.wasm, &report));
    }
    Ok(())
}

fn marker(report: &Report) -> String {
    match report.abi {
        Some(abi) => abi.marker().to_string(),
        None if report.unknown_markers.is_empty() => "none (not a proxy-wasm plugin?)".into(),
        None => format!("unknown: {}", report.unknown_markers.join(", ")),
    }
}

fn json(report: &Report) -> serde_json::Value {
    serde_json::json!({
        "abi": report.abi.map(|a| a.marker()),
        "unknown_markers": report.unknown_markers,
        "producers": report.producers,
        "size": report.size,
        "imports": report.imports.iter().map(|i| serde_json::json!({
            "module": i.module, "name": i.name, "provided": i.provided,
        })).collect::<Vec<_>>(),
        "missing": report.missing().map(|i| format!("{}.{}", i.module, i.name)).collect::<Vec<_>>(),
        "callbacks": report.callbacks,
    })
}

fn text(path: &std::path::Path, report: &Report) -> String {
    let mut out = String::new();
    let missing: Vec<_> = report.missing().collect();
    out += &format!("{} ({} bytes)\n", path.display(), report.size);
    out += &format!("ABI marker:  {}\n", marker(report));
    if report.producers.is_empty() {
        out += "Toolchain:   not recorded (no producers section)\n";
    } else {
        out += &format!("Toolchain:   {}\n", report.producers.join("; "));
    }
    out += &format!(
        "Imports:     {} host functions, {} missing\n",
        report.imports.len(),
        missing.len()
    );
    for import in &report.imports {
        let mark = if import.provided {
            "provided"
        } else {
            "MISSING"
        };
        out += &format!("  {:<9} {}.{}\n", mark, import.module, import.name);
    }
    out += &format!("Callbacks:   {} exported\n", report.callbacks.len());
    for callback in &report.callbacks {
        out += &format!("  {callback}\n");
    }
    out
}
