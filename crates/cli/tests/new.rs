//! `wasmgate new`, then `wasmgate build`, `wasmgate test` and (Rust) `cargo test` on what it
//! made: each template in each language builds and passes its own tests as generated.
//!
//! The generated projects build in this build's target directory, from the workspace's
//! `Cargo.lock` and with its dev profile (`wasmgate new` writes both): wasmtime and the rest
//! of wasmgate-testkit's dependencies are compiled once for all of them (and for the next
//! run), not once per project.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use wasmgate_test_support::{cache_dir, repo_root, request, tempdir};

/// The target directory this test was built in (`…/target` of `…/target/debug/wasmgate`).
fn target_dir() -> PathBuf {
    wasmgate_test_support::target_dir(env!("CARGO_BIN_EXE_wasmgate"))
}

fn run(command: &mut Command, dir: &Path, target: &Path) -> (bool, String) {
    wasmgate_test_support::run(
        command
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", target)
            .env("WASMGATE_CACHE_DIR", cache_dir()),
    )
}

fn wasmgate(args: &[&str], dir: &Path) -> (bool, String) {
    run(
        Command::new(env!("CARGO_BIN_EXE_wasmgate")).args(args),
        dir,
        &repo_root().join("target/examples"),
    )
}

fn workdir() -> std::path::PathBuf {
    tempdir("new")
}

#[test]
fn every_template_builds_and_passes_its_tests() {
    let work = workdir();
    let target = target_dir();
    let in_target = |command: &mut Command, dir: &Path| run(command, dir, &target);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let cases = [
        ("rust", "hello"),
        ("rust", "http-call"),
        ("rust", "redis"),
        ("rust", "blank"),
        ("rust", "mcp"),
        ("go", "hello"),
        ("go", "http-call"),
        ("go", "redis"),
        ("go", "blank"),
    ];
    for (lang, template) in cases {
        let name = format!("{lang}-{template}");
        let (ok, out) = wasmgate(
            &["new", &name, "--lang", lang, "--template", template],
            &work,
        );
        assert!(ok, "{name}: {out}");
        let project = work.join(&name);
        let source = if lang == "rust" {
            "src/lib.rs"
        } else {
            "main.go"
        };
        let source = std::fs::read_to_string(project.join(source)).unwrap();
        assert!(
            source.contains(&format!("{name:?}")),
            "{name}: the plugin registers itself under the project's name:\n{source}"
        );
        let wasmgate = || Command::new(env!("CARGO_BIN_EXE_wasmgate"));
        let at = Instant::now();
        let (ok, out) = in_target(wasmgate().arg("build"), &project);
        assert!(ok, "{name} build: {out}");
        assert!(out.contains("0 missing host functions"), "{name}: {out}");
        let (ok, out) = in_target(wasmgate().args(["test", "tests/scenario.yaml"]), &project);
        assert!(ok, "{name} test: {out}");
        assert!(out.contains(" passed, 0 failed"), "{name}: {out}");
        eprintln!(
            "{name}: built and its scenario passed in {:.1}s",
            at.elapsed().as_secs_f64()
        );
        if lang == "rust" {
            let at = Instant::now();
            let (ok, out) = in_target(Command::new(&cargo).arg("test"), &project);
            assert!(ok, "{name} cargo test: {out}");
            let passed: usize = out
                .lines()
                .filter_map(|l| l.strip_prefix("test result: ok. "))
                .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
                .sum();
            assert!(passed >= 1, "{name}: cargo test ran no test: {out}");
            eprintln!(
                "{name}: cargo test passed {passed} tests in {:.1}s",
                at.elapsed().as_secs_f64()
            );
            // Its test binary holds a copy of wasmtime (hundreds of MB): only the shared
            // dependencies stay.
            in_target(Command::new(&cargo).args(["clean", "-p", &name]), &project);
        }
        let _ = std::fs::remove_dir_all(&project);
    }
}

#[test]
fn new_refuses_to_overwrite_and_bad_names() {
    let work = workdir();
    std::fs::create_dir_all(work.join("taken")).unwrap();
    let (ok, out) = wasmgate(&["new", "taken"], &work);
    assert!(!ok);
    assert!(out.contains("already exists"), "{out}");
    let (ok, out) = wasmgate(&["new", "bad name!"], &work);
    assert!(!ok);
    assert!(out.contains("must be letters, digits"), "{out}");
}

#[test]
fn run_watch_rebuilds_and_reloads_a_changed_project() {
    use std::io::{BufRead, BufReader};
    let work = workdir();
    let (ok, out) = wasmgate(
        &["new", "watched", "--lang", "rust", "--template", "hello"],
        &work,
    );
    assert!(ok, "{out}");
    let project = work.join("watched");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .args(["run", "--plugin"])
        .arg(&project)
        .args([
            "--config-json",
            "{}",
            "--upstream",
            "echo",
            "--listen",
            "127.0.0.1:0",
            "--watch",
            "--workers",
            "1",
        ])
        .env("CARGO_TARGET_DIR", repo_root().join("target/examples"))
        .env("WASMGATE_CACHE_DIR", cache_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("wasmgate listening on http://"))
        .expect("the gateway starts");
    let address = first["wasmgate listening on http://".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    std::thread::spawn(move || for _ in lines {});
    let hello = |address| request(address, "GET", "/", &[], b"").upstream_header("hello");
    assert_eq!(hello(address).as_deref(), Some("world"));
    let source = project.join("src/lib.rs");
    let text = std::fs::read_to_string(&source).unwrap();
    assert!(text.contains("\"world\""), "{text}");
    std::fs::write(&source, text.replace("\"world\"", "\"watcher\"")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while hello(address).as_deref() != Some("watcher") {
        assert!(
            std::time::Instant::now() < deadline,
            "the change was not rebuilt and reloaded"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let _ = child.kill();
    let _ = child.wait();
}
