//! `${secret.…}` references in a WasmPlugin copied from a cluster, filled from the local
//! `secrets:` store as Higress's controller fills them from the cluster's Secrets: the key-auth
//! plugin takes the consumers' keys from a Secret's files and from an environment variable; a
//! reference nothing answers refuses the configuration, naming the resource's line and where
//! it looked.

use crate::common::{echo, start, tempdir, write, Client, Config};
use wasmgate_proxy::load_config;
use wasmgate_testkit::examples::{example, Lang};

/// A key-auth WasmPlugin as a cluster holds it, its credentials in Secrets.
fn key_auth_resource(wasm: &str, bob: &str) -> String {
    format!(
        r#"apiVersion: extensions.higress.io/v1alpha1
kind: WasmPlugin
metadata:
  name: key-auth
  namespace: higress-system
spec:
  url: file://{wasm}
  phase: AUTHN
  priority: 321
  defaultConfig:
    global_auth: true
    keys: [x-api-key]
    in_header: true
    consumers:
      - name: alice
        credential: ${{secret.auth-keys.alice}}
      - name: bob
        credential: "{bob}"
"#
    )
}

#[test]
fn a_wasmplugin_takes_its_keys_from_secret_files_and_the_environment() {
    let upstream = echo();
    let dir = tempdir("secrets");
    let wasm = example(Lang::Rust, "key-auth").display().to_string();
    std::fs::create_dir_all(dir.join("secrets/auth-keys")).unwrap();
    write(&dir.join("secrets/auth-keys"), "alice", "alice-key\n");
    std::env::set_var("WASMGATE_TEST_BOB_KEY", "bob-key");
    write(
        &dir,
        "key-auth.yaml",
        key_auth_resource(&wasm, "${secret.higress-system/auth-keys.bob}"),
    );
    let config = Config::new()
        .setting("secrets:\n  dir: secrets\n  env:\n    higress-system/auth-keys.bob: WASMGATE_TEST_BOB_KEY")
        .cluster("echo", upstream.local_addr(), &[])
        .route("r", "echo", &[])
        .wasmplugin("key-auth.yaml");
    let gateway = start(&config, &dir);
    let consumer = |key: &str| {
        let response = gateway.get("/", &[("x-api-key", key)]);
        match response.status {
            200 => response.echoed()["headers"]["x-mse-consumer"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            status => status.to_string(),
        }
    };
    assert_eq!(
        consumer("alice-key"),
        "alice",
        "the file's value, its newline dropped"
    );
    assert_eq!(
        consumer("bob-key"),
        "bob",
        "the environment variable's value"
    );
    assert_eq!(
        consumer("${secret.auth-keys.alice}"),
        "403",
        "the reference itself is no key"
    );
}

#[test]
fn a_secret_nothing_holds_refuses_the_configuration_with_its_line() {
    let dir = tempdir("secrets-missing");
    let wasm = example(Lang::Rust, "key-auth").display().to_string();
    std::fs::create_dir_all(dir.join("secrets/auth-keys")).unwrap();
    write(&dir.join("secrets/auth-keys"), "alice", "alice-key");
    write(
        &dir,
        "key-auth.yaml",
        key_auth_resource(&wasm, "${secret.auth-keys.bob}"),
    );
    let config = Config::new()
        .setting("secrets:\n  dir: secrets")
        .cluster("echo", "127.0.0.1:9", &[])
        .route("r", "echo", &[])
        .wasmplugin("key-auth.yaml");
    let file = write(&dir, "wasmgate.yaml", config.text());
    let error = load_config(&file).expect_err("refused").to_string();
    let missing = dir.join("secrets/auth-keys/bob");
    assert!(
        error.contains("key-auth.yaml:18: secret reference ${secret.auth-keys.bob}: no secrets.env entry auth-keys.bob and ")
            && error.contains(&missing.display().to_string())
            && !error.contains('\n'),
        "{error}"
    );
}
