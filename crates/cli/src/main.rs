//! The `wasmgate` command: argument parsing and the process edge (logging, signals, exit
//! codes). The work is done in `wasmgate-proxy` and `wasmgate-host`.

mod build;
mod export;
mod inspect;
mod new;
mod plugin_args;
mod push;
mod run;
mod scenario;

use clap::{Parser, Subcommand};

/// Run, test and inspect proxy-wasm plugins (Higress, Envoy, Istio) locally.
#[derive(Parser)]
#[command(name = "wasmgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run plugins in front of an HTTP service.
    Run(Box<run::RunArgs>),
    /// Show what a plugin .wasm declares and whether wasmgate provides what it imports.
    Inspect(inspect::InspectArgs),
    /// Run an HTTP service that answers with what it received (as JSON).
    Echo(run::EchoArgs),
    /// Create a plugin project (Rust or Go) from a template.
    New(new::NewArgs),
    /// Build a plugin project (Rust or Go) into main.wasm.
    Build(build::BuildArgs),
    /// Run plugin test scenarios (YAML): requests, callout answers, expected results.
    Test(scenario::TestArgs),
    /// Write the configuration for a Higress or Envoy fleet.
    Export(export::ExportArgs),
    /// Push a plugin .wasm to a registry as an image Higress, Istio and Envoy Gateway pull.
    Push(push::PushArgs),
}

fn main() {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Run(args) => {
            let run_matches = matches
                .subcommand_matches("run")
                .cloned()
                .unwrap_or_default();
            run::run(*args, &run_matches)
        }
        Command::Inspect(args) => inspect::inspect(args),
        Command::Echo(args) => run::echo(args),
        Command::Test(args) => scenario::test(args),
        Command::Build(args) => build::build(args),
        Command::New(args) => new::new(args),
        Command::Export(args) => export::export(args),
        Command::Push(args) => push::push(args),
    };
    if let Err(e) = result {
        eprintln!("error: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// The error and its causes on one line, each cause once (library errors often name their
/// cause in their own message already).
pub(crate) fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain().map(|e| e.to_string()) {
        if line.ends_with(&cause) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&cause);
    }
    line.replace('\n', " ")
}
