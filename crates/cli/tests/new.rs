//! `wasmgate new`, then `wasmgate build` and `wasmgate test` on what it made: each template
//! in each language builds and passes its own scenario as generated.

use std::path::Path;
use std::process::Command;

use wasmgate_testkit::examples::repo_root;

fn wasmgate(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", repo_root().join("target/examples"))
        .env(
            "WASMGATE_CACHE_DIR",
            repo_root().join("target/wasmgate-cache"),
        )
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn workdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wasmgate-new-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_template_builds_and_passes_its_scenario() {
    let work = workdir();
    let cases = [
        ("rust", "hello"),
        ("rust", "http-call"),
        ("rust", "redis"),
        ("rust", "blank"),
        ("go", "hello"),
        ("go", "http-call"),
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
        let (ok, out) = wasmgate(&["build"], &project);
        assert!(ok, "{name} build: {out}");
        assert!(out.contains("0 missing host functions"), "{name}: {out}");
        let (ok, out) = wasmgate(&["test", "tests/scenario.yaml"], &project);
        assert!(ok, "{name} test: {out}");
        assert!(out.contains(" passed, 0 failed"), "{name}: {out}");
    }
}

#[test]
fn new_refuses_to_overwrite_and_names_what_it_cannot_do() {
    let work = workdir();
    std::fs::create_dir_all(work.join("taken")).unwrap();
    let (ok, out) = wasmgate(&["new", "taken"], &work);
    assert!(!ok);
    assert!(out.contains("already exists"), "{out}");
    let (ok, out) = wasmgate(&["new", "g", "--lang", "go", "--template", "redis"], &work);
    assert!(!ok);
    assert!(out.contains("Rust-only"), "{out}");
}
