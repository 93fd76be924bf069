//! Instruction counts of the host's benchmark cases (`request.rs`'s minimal, sdk-hello, Go
//! hello and callout round trip), with valgrind's callgrind: the same count for the same
//! binary and plugins whatever else the machine does, where a timing wobbles by ±15%.
//!
//! The bench runs itself under callgrind once per case and run (`--child CASE N`). The
//! child starts the case's plugin, runs warm-up iterations, then `counted_loop` runs N
//! iterations; callgrind counts only inside `counted_loop` (`--toggle-collect`), on that
//! thread only, so start-up, plugin loading and the epoch ticker are not counted. The
//! per-iteration count is the loop's total / N. First the cases start once under valgrind
//! without a tool (`--fill-cache`), which compiles every plugin into the module cache for
//! valgrind's CPU (wasmtime keys compiled code by the CPU features it detects, and
//! valgrind's CPU has fewer than the machine's), so the children load compiled code.
//!
//! ```sh
//! cargo bench -p wasmgate-host --bench counts                  # every case, 2 runs each
//! cargo bench -p wasmgate-host --bench counts -- sdk_hello     # some cases
//! cargo bench -p wasmgate-host --bench counts -- --check sdk_hello   # CI: the ceiling
//! ```
//!
//! Options: `--runs R` (default 2), `--iterations N` (default 2000), `--check` (one run;
//! fails when a case is over its ceiling, 3× the count of this bench when it was written;
//! release builds only). The callgrind files stay in `<target>/counts/` for
//! `callgrind_annotate --inclusive=yes <file>` (or bench/counts.py's `breakdown`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use common::{runtime, CalloutCase, HeaderCase, HEADER_CASES};

/// The function callgrind counts in (see `--toggle-collect` below).
const COUNTED: &str = "*counted_loop*";

/// What each case cost per iteration (release build) when the ceilings were set;
/// `--check` fails over 3× these.
const BASELINE: [(&str, u64); 4] = [
    ("minimal_plugin", 8_029),
    ("sdk_hello", 22_334),
    ("go_hello", 82_893),
    ("callout_round_trip", 34_695),
];
const CEILING_FACTOR: u64 = 3;

enum Case {
    Header(HeaderCase),
    Callout(CalloutCase),
}

impl Case {
    fn names() -> Vec<&'static str> {
        let mut names: Vec<_> = HEADER_CASES.iter().map(|c| c.0).collect();
        names.push("callout_round_trip");
        names
    }

    fn start(name: &str, runtime: &wasmgate_host::Runtime) -> Option<Case> {
        if name == "callout_round_trip" {
            return Some(Case::Callout(CalloutCase::new(runtime)));
        }
        let (_, lang, plugin, config, added) = HEADER_CASES.iter().find(|c| c.0 == name)?;
        Some(Case::Header(HeaderCase::new(
            runtime, *lang, plugin, config, *added,
        )))
    }

    fn run(&mut self) {
        match self {
            Case::Header(case) => {
                case.run();
            }
            Case::Callout(case) => {
                case.run();
            }
        }
    }
}

/// The loop callgrind counts: `n` iterations of the case.
#[inline(never)]
fn counted_loop(case: &mut Case, n: u64) {
    for _ in 0..n {
        case.run();
    }
}

/// `<target>`: the bench binary is `<target>/<profile>/deps/counts-<hash>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| common::repo_root().join("target"))
}

fn cache_dir() -> PathBuf {
    std::env::var_os("WASMGATE_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("wasmgate-cache"))
}

struct Options {
    runs: usize,
    iterations: u64,
    check: bool,
    cases: Vec<String>,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        runs: 2,
        iterations: 2000,
        check: false,
        cases: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--bench" => {}
            "--runs" => o.runs = value("--runs")?,
            "--iterations" => o.iterations = value("--iterations")? as u64,
            "--check" => o.check = true,
            name if Case::names().contains(&name) => o.cases.push(name.to_string()),
            other => {
                return Err(format!(
                    "unknown argument {other}; cases: {}",
                    Case::names().join(", ")
                ))
            }
        }
    }
    if o.cases.is_empty() {
        o.cases = Case::names().into_iter().map(String::from).collect();
    }
    if o.check {
        o.runs = 1;
        o.iterations = o.iterations.min(300);
    }
    Ok(o)
}

/// The child: start the case, warm up, run the counted loop.
fn child(name: &str, iterations: u64) -> ExitCode {
    let runtime = runtime(Some(cache_dir()));
    let Some(mut case) = Case::start(name, &runtime) else {
        eprintln!("unknown case {name}");
        return ExitCode::FAILURE;
    };
    for _ in 0..20 {
        case.run();
    }
    counted_loop(&mut case, iterations);
    ExitCode::SUCCESS
}

/// The instructions callgrind counted (`summary:` or `totals:` line of its output).
fn counted(file: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or(format!("{} has no summary line", file.display()))
}

/// Starts every case once under valgrind without a tool: their plugins' code for valgrind's
/// CPU goes into the cache (a few seconds when it is there already).
fn fill_cache(cases: &[String]) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = Command::new("valgrind")
        .args(["--tool=none", "--quiet"])
        .arg(&exe)
        .arg("--fill-cache")
        .args(cases)
        .env("WASMGATE_CACHE_DIR", cache_dir())
        .status()
        .map_err(|e| format!("cannot run valgrind (install Debian's valgrind): {e}"))?;
    if !status.success() {
        return Err(format!(
            "starting the cases under valgrind failed ({status})"
        ));
    }
    Ok(())
}

/// One run of a case under callgrind: instructions per iteration.
fn measure(name: &str, run: usize, iterations: u64, out_dir: &Path) -> Result<u64, String> {
    let out = out_dir.join(format!("{name}.{run}.callgrind"));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--collect-atstart=no",
            &format!("--toggle-collect={COUNTED}"),
            &format!("--callgrind-out-file={}", out.display()),
            // Whole names in the file, as bench/counts.py's breakdown reads them.
            "--compress-strings=no",
            "--quiet",
        ])
        .arg(&exe)
        .args(["--child", name, &iterations.to_string()])
        .env("WASMGATE_CACHE_DIR", cache_dir())
        .status()
        .map_err(|e| format!("cannot run valgrind (install Debian's valgrind): {e}"))?;
    if !status.success() {
        return Err(format!("{name} under callgrind failed ({status})"));
    }
    let total = counted(&out)?;
    if total == 0 {
        return Err(format!(
            "callgrind counted nothing in {COUNTED} for {name}: is the function inlined?"
        ));
    }
    Ok(total / iterations)
}

fn ceiling(name: &str) -> Option<u64> {
    let (_, base) = BASELINE.iter().find(|b| b.0 == name)?;
    Some(base * CEILING_FACTOR)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, name, n] = args.as_slice() {
        if flag == "--child" {
            return child(name, n.parse().unwrap_or(1000));
        }
    }
    if args.first().map(String::as_str) == Some("--fill-cache") {
        // Starting each case compiles its plugin into the cache and checks it once.
        let runtime = runtime(Some(cache_dir()));
        for name in &args[1..] {
            drop(Case::start(name, &runtime));
        }
        return ExitCode::SUCCESS;
    }
    let o = match options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if o.check && cfg!(debug_assertions) {
        eprintln!("the ceilings are counts of a release build: run --check with `cargo bench`");
        return ExitCode::FAILURE;
    }
    if let Err(e) = fill_cache(&o.cases) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let out_dir = target_dir().join("counts");
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("cannot create {}: {e}", out_dir.display());
        return ExitCode::FAILURE;
    }
    let profile = if cfg!(debug_assertions) {
        "test"
    } else {
        "release"
    };
    println!(
        "instructions per iteration ({profile} build, {} iterations, callgrind files in {})",
        o.iterations,
        out_dir.display()
    );
    let mut failed = false;
    for name in &o.cases {
        let counts: Result<Vec<u64>, String> = (1..=o.runs)
            .map(|run| measure(name, run, o.iterations, &out_dir))
            .collect();
        let counts = match counts {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let (lo, hi) = (counts.iter().min(), counts.iter().max());
        let spread = match (lo, hi) {
            (Some(&lo), Some(&hi)) if lo > 0 => (hi - lo) as f64 / lo as f64 * 100.0,
            _ => 0.0,
        };
        let runs: Vec<String> = counts.iter().map(u64::to_string).collect();
        let mut line = format!("{name:<20} {:>24}  spread {spread:.2}%", runs.join(" "));
        if o.check {
            match ceiling(name) {
                Some(max) if counts[0] > max => {
                    failed = true;
                    line += &format!("  OVER the ceiling {max}");
                }
                Some(max) => line += &format!("  ceiling {max}: ok"),
                None => {}
            }
        }
        println!("{line}");
    }
    if failed {
        eprintln!(
            "a case costs more than {CEILING_FACTOR}× its count in crates/host/benches/counts.rs: \
             find what made it dearer (callgrind_annotate on the files above)"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
