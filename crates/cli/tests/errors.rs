//! Bad input gets a clear one-line error and a non-zero exit: a missing plugin, a file that
//! is not wasm, a module without an ABI marker, a configuration that is neither JSON nor
//! YAML, a plugin that rejects its configuration, a `--config` or `--name` before any
//! `--plugin`, an upstream URL of the wrong kind.

mod common;

use common::{error_line, tempdir, write, Running};
use wasmgate_testkit::examples::{example, Lang};

fn start_error(args: &[&str]) -> String {
    match Running::try_start(args) {
        Ok(_) => panic!("wasmgate started with {args:?}"),
        Err(e) => e,
    }
}

fn scratch(name: &str, contents: &[u8]) -> String {
    write(&tempdir("errors"), name, contents)
        .display()
        .to_string()
}

#[test]
fn a_missing_plugin_file() {
    let out = start_error(&["--plugin", "/no/such/main.wasm", "--upstream", "echo"]);
    assert!(
        error_line(&out).contains("cannot read plugin /no/such/main.wasm"),
        "{out}"
    );
}

#[test]
fn a_file_that_is_not_wasm() {
    let file = scratch("notwasm.wasm", b"hello");
    let out = start_error(&["--plugin", &file, "--upstream", "echo"]);
    assert!(
        error_line(&out).contains("is not a valid WebAssembly module"),
        "{out}"
    );
}

#[test]
fn a_module_without_an_abi_marker() {
    let module = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 0)
             (func (export "proxy_abi_version_9_9_9")))"#,
    )
    .unwrap();
    let file = scratch("nomarker.wasm", &module);
    let out = start_error(&["--plugin", &file, "--upstream", "echo"]);
    let line = error_line(&out);
    assert!(
        line.contains("missing or unknown Proxy-Wasm ABI version"),
        "{out}"
    );
    assert!(line.contains("proxy_abi_version_9_9_9"), "{out}");
}

#[test]
fn a_config_that_is_not_json_or_yaml() {
    let plugin = example(Lang::Rust, "hello").display().to_string();
    let config = scratch("bad.yaml", b"mockEnable: [true\n");
    let out = start_error(&[
        "--plugin",
        &plugin,
        "--config",
        &config,
        "--upstream",
        "echo",
    ]);
    let line = error_line(&out);
    assert!(line.contains("bad.yaml is not JSON or YAML"), "{out}");
    assert!(line.contains("line"), "{out}");
}

#[test]
fn a_config_the_plugin_rejects() {
    let plugin = example(Lang::Go, "http-call").display().to_string();
    let out = start_error(&[
        "--plugin",
        &plugin,
        "--config-json",
        r#"{"serviceSource":"nope"}"#,
        "--upstream",
        "echo",
    ]);
    assert!(
        error_line(&out).contains("rejected its configuration"),
        "{out}"
    );
}

#[test]
fn a_config_before_any_plugin() {
    let plugin = example(Lang::Rust, "hello").display().to_string();
    let out = start_error(&[
        "--config-json",
        "{}",
        "--plugin",
        &plugin,
        "--upstream",
        "echo",
    ]);
    assert!(
        error_line(&out).contains("comes before any --plugin"),
        "{out}"
    );
}

#[test]
fn a_name_before_any_plugin_or_twice_for_one() {
    let plugin = example(Lang::Rust, "minimal").display().to_string();
    let out = start_error(&["--name", "a", "--plugin", &plugin, "--upstream", "echo"]);
    assert!(
        error_line(&out).contains("a --name comes before any --plugin"),
        "{out}"
    );
    let out = start_error(&[
        "--plugin",
        &plugin,
        "--name",
        "a",
        "--name",
        "b",
        "--upstream",
        "echo",
    ]);
    assert!(error_line(&out).contains("plugin a has two names"), "{out}");
}

#[test]
fn an_upstream_that_is_neither_http_with_a_port_nor_https() {
    let plugin = example(Lang::Rust, "minimal").display().to_string();
    for upstream in ["http://127.0.0.1", "ftp://example.com:21"] {
        let out = start_error(&["--plugin", &plugin, "--upstream", upstream]);
        assert!(
            error_line(&out).contains("must be http://HOST:PORT, https://HOST[:PORT]"),
            "{out}"
        );
    }
}
