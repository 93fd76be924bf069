//! `wasmgate test`: runs scenario files and reports like a test runner: one line per case,
//! the reasons under a failed one, a closing `N passed, N failed`, exit status 1 on failure.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use clap::Args;
use wasmgate_testkit::scenario;

/// Arguments of `wasmgate test`.
#[derive(Args, Debug)]
pub struct TestArgs {
    /// Scenario files (YAML).
    #[arg(required = true, value_name = "SCENARIO.yaml")]
    files: Vec<PathBuf>,
    /// Run again whenever a scenario or a plugin it names changes (Ctrl-C stops).
    #[arg(long)]
    watch: bool,
}

/// `wasmgate test`.
pub fn test(args: TestArgs) -> Result<()> {
    if !args.watch {
        let (_, failed) = run_all(&args.files);
        if failed > 0 {
            std::process::exit(1);
        }
        return Ok(());
    }
    loop {
        run_all(&args.files);
        let before = stamps(&args.files);
        println!("watching for changes (Ctrl-C stops)");
        while stamps(&args.files) == before {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Runs every scenario file; returns (passed, failed).
fn run_all(files: &[PathBuf]) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    for file in files {
        println!("{}", file.display());
        let loaded = match scenario::load(file) {
            Ok(loaded) => loaded,
            Err(e) => {
                println!("  FAIL  {e}");
                failed += 1;
                continue;
            }
        };
        for result in scenario::run(&loaded) {
            if result.passed() {
                passed += 1;
                println!("  ok    {}", result.name);
            } else {
                failed += 1;
                println!("  FAIL  {}", result.name);
                for reason in &result.failures {
                    println!("        {reason}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    (passed, failed)
}

/// Modification times of the scenario files and the plugins they name.
fn stamps(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    let mut paths: Vec<PathBuf> = files.to_vec();
    paths.extend(
        files
            .iter()
            .filter_map(|f| scenario::load(f).ok())
            .map(|s| s.plugin),
    );
    paths
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}
