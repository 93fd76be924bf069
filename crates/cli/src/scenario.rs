//! `wasmgate test`: runs scenario files and reports like a test runner: one line per case,
//! the reasons under a failed one, a closing `N passed, N failed`, exit status 1 on failure.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use wasmgate_testkit::scenario;

/// Arguments of `wasmgate test`.
#[derive(Args, Debug)]
pub struct TestArgs {
    /// Scenario files (YAML).
    #[arg(required = true, value_name = "SCENARIO.yaml")]
    files: Vec<PathBuf>,
}

/// `wasmgate test`.
pub fn test(args: TestArgs) -> Result<()> {
    let (mut passed, mut failed) = (0, 0);
    for file in &args.files {
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
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
