//! `wasmgate build` on a Rust and a Go plugin project: it writes a plugin with its marker.

use std::process::Command;

use wasmgate_test_support::{repo_root, run, tempdir};

fn build(dir: &std::path::Path, output: &std::path::Path) -> (bool, String) {
    run(Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .arg("build")
        .arg(dir)
        .arg("-o")
        .arg(output)
        .env("CARGO_TARGET_DIR", repo_root().join("target/examples")))
}

fn scratch(name: &str) -> std::path::PathBuf {
    tempdir("build").join(name)
}

#[test]
fn builds_a_rust_and_a_go_plugin() {
    let root = repo_root();
    let rust_out = scratch("rust-hello.wasm");
    let (ok, out) = build(&root.join("examples/rust/hello"), &rust_out);
    assert!(ok, "{out}");
    assert!(
        out.contains("proxy_abi_version_0_2_1, 0 missing host functions"),
        "{out}"
    );
    assert!(std::fs::read(&rust_out).unwrap().starts_with(b"\0asm"));

    let go_out = scratch("go-hello.wasm");
    let (ok, out) = build(&root.join("examples/go/hello"), &go_out);
    assert!(ok, "{out}");
    assert!(
        out.contains("proxy_abi_version_0_2_100, 0 missing host functions"),
        "{out}"
    );
}

#[test]
fn a_directory_that_is_not_a_project_is_a_clear_error() {
    let dir = scratch("empty-project");
    std::fs::create_dir_all(&dir).unwrap();
    let (ok, out) = build(&dir, &dir.join("main.wasm"));
    assert!(!ok);
    assert!(
        out.contains("has neither a Cargo.toml (Rust) nor Go files"),
        "{out}"
    );
}
