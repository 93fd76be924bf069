//! Plugins the way the fleet ships them, against a real registry (Debian's `docker-registry`)
//! with Debian's `skopeo` as the independent client: `wasmgate push` output inspected and
//! copied by skopeo and pulled by wasmgate; a WasmPlugin resource with an `oci://` URL run as
//! it is; an image assembled the way Higress builds its plugin images (skopeo copying an OCI
//! layout) pulled and run; htpasswd auth behind TLS with pull secrets; and each failure's
//! one-line error: 401 (naming the credentials tried), 404, sha256 mismatch, not a wasm
//! image, registry unreachable; the cache serving offline under `IfNotPresent`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    cache_dir, dead_address, echo, error_line, tempdir, write, Client, Login, Pki, Registry,
    Running,
};
use sha2::{Digest, Sha256};
use wasmgate_testkit::examples::{example, Lang};

/// `wasmgate ARGS` with the tests' cache; (success, stdout and stderr).
fn wasmgate(args: &[&str], envs: &[(&str, &Path)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmgate"));
    command.args(args).env("WASMGATE_CACHE_DIR", cache_dir());
    for (k, v) in envs {
        command.env(k, v);
    }
    let output = command.output().expect("wasmgate runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn skopeo(args: &[&str]) -> String {
    let output = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo runs (scripts/test.sh installs it)");
    assert!(
        output.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn hello() -> String {
    example(Lang::Rust, "hello").display().to_string()
}

/// A gateway with one plugin entry (`entry` under `plugins:`) in front of an echo upstream.
fn gateway_with(
    dir: &Path,
    head: &str,
    entry: &str,
    upstream: std::net::SocketAddr,
) -> Result<Running, String> {
    let text = format!(
        "listen: 127.0.0.1:0\n{head}clusters:\n  - name: echo\n    endpoints: [{upstream}]\nroutes:\n  - name: r\n    cluster: echo\nplugins:\n  - {entry}\n"
    );
    Running::try_start_file(&write(dir, "wasmgate.yaml", text))
}

fn says_hello(gateway: &Running) {
    let response = gateway.get("/", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.echoed()["headers"]["hello"],
        "world",
        "the plugin ran"
    );
}

#[test]
fn a_pushed_image_is_inspected_and_copied_by_skopeo_and_a_wasmplugin_runs_it() {
    let dir = tempdir("images-push");
    let registry = Registry::plain(&dir.join("registry"));
    let image = format!("oci://{}/plugins/hello:1.0.0", registry.host());
    let (ok, out) = wasmgate(&["push", &hello(), &image], &[]);
    assert!(ok, "{out}");
    let digest = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("a digest in {out}"))
        .to_string();
    assert!(out.contains(&format!("  url: {image}")), "{out}");
    let sha256 = digest.trim_start_matches("sha256:");
    assert!(out.contains(&format!("  sha256: {sha256}")), "{out}");
    // skopeo sees the same image, and copies it to another repository.
    let source = format!("docker://{}/plugins/hello:1.0.0", registry.host());
    let inspected: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &source])).unwrap();
    assert_eq!(inspected["Digest"], digest.as_str());
    let copy = format!("docker://{}/copies/hello:2.0.0", registry.host());
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &source,
        &copy,
    ]);
    // A WasmPlugin resource as Higress's docs write it, with the pushed url and sha256.
    let resource = format!(
        "apiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: hello\n  namespace: higress-system\nspec:\n  defaultConfig:\n    mockEnable: false\n  url: {image}\n  sha256: {sha256}\n  imagePullPolicy: Always\n"
    );
    write(&dir, "hello.yaml", resource);
    let upstream = echo();
    let gateway = gateway_with(&dir, "", "wasmplugin: hello.yaml", upstream.local_addr()).unwrap();
    says_hello(&gateway);
    drop(gateway);
    // The copy, as `--plugin`.
    let copied = format!("oci://{}/copies/hello:2.0.0", registry.host());
    let upstream_url = format!("http://{}", upstream.local_addr());
    let gateway = Running::start(&["--plugin", &copied, "--upstream", &upstream_url]);
    says_hello(&gateway);
}

/// An OCI layout holding a Higress-style image of `module` (a gzip tarball with
/// `plugin.wasm`, or with `other.txt` when `module` is `None`), tagged `1.0.0`.
fn oci_layout(dir: &Path, module: Option<&[u8]>) {
    let hex = |b: &[u8]| -> String {
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let mut tarball = tar::Builder::new(Vec::new());
    let (name, content) = match module {
        Some(m) => ("plugin.wasm", m),
        None => ("other.txt", &b"not a plugin"[..]),
    };
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tarball.append_data(&mut header, name, content).unwrap();
    let tarball = tarball.into_inner().unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, &tarball).unwrap();
    let layer = gzip.finish().unwrap();
    let config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", hex(&tarball))]}})
    .to_string();
    let manifest = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", hex(config.as_bytes())), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", hex(&layer)), "size": layer.len()}]})
    .to_string();
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for blob in [&layer[..], config.as_bytes(), manifest.as_bytes()] {
        std::fs::write(blobs.join(hex(blob)), blob).unwrap();
    }
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion": "1.0.0"}"#).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", hex(manifest.as_bytes())), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "1.0.0"}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
}

#[test]
fn a_higress_style_image_copied_by_skopeo_runs_and_the_failures_say_what_went_wrong() {
    let dir = tempdir("images-higress");
    let registry = Registry::plain(&dir.join("registry"));
    let host = registry.host();
    let module = std::fs::read(hello()).unwrap();
    oci_layout(&dir.join("layout"), Some(&module));
    oci_layout(&dir.join("not-wasm"), None);
    let layout = format!("oci:{}:1.0.0", dir.join("layout").display());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &layout,
        &format!("docker://{host}/plugins/hello-higress:1.0.0"),
    ]);
    let not_wasm = format!("oci:{}:1.0.0", dir.join("not-wasm").display());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &not_wasm,
        &format!("docker://{host}/plugins/readme:1.0.0"),
    ]);
    let upstream = echo().local_addr();
    let image = format!("oci://{host}/plugins/hello-higress:1.0.0");
    let gateway = gateway_with(&dir, "", &format!("wasm: {image}"), upstream).unwrap();
    says_hello(&gateway);
    drop(gateway);
    let refused = |entry: &str| -> String {
        let out = gateway_with(&dir, "", entry, upstream)
            .err()
            .expect("the config is refused");
        error_line(&out)
    };
    let missing = refused(&format!("wasm: oci://{host}/plugins/nothing:1.0.0"));
    assert!(
        missing.contains("nothing:1.0.0") && missing.contains("not found"),
        "{missing}"
    );
    let wrong = refused(&format!(
        "wasm: {image}\n    sha256: {}\n    image_pull_policy: Always",
        "0".repeat(64)
    ));
    assert!(
        wrong.contains("sha256 mismatch") && wrong.contains("hello-higress"),
        "{wrong}"
    );
    let readme = refused(&format!("wasm: oci://{host}/plugins/readme:1.0.0"));
    assert!(readme.contains("not a wasm image"), "{readme}");
    let dead = refused(&format!(
        "wasm: oci://{}/plugins/hello:1.0.0",
        dead_address()
    ));
    assert!(dead.contains("registry unreachable"), "{dead}");
    // Once pulled, the image is served from the cache with the registry gone; `Always` asks
    // the registry, which is not there.
    drop(registry);
    let gateway = gateway_with(&dir, "", &format!("wasm: {image}"), upstream).unwrap();
    says_hello(&gateway);
    drop(gateway);
    let always = refused(&format!("wasm: {image}\n    image_pull_policy: Always"));
    assert!(always.contains("registry unreachable"), "{always}");
}

#[test]
fn a_registry_behind_tls_with_auth_takes_docker_config_credentials_and_pull_secrets() {
    let dir = tempdir("images-auth");
    let pki = Pki::new(&dir);
    let registry = Registry::with_auth(
        &dir.join("registry"),
        &pki,
        Login {
            user: "alice",
            password: "s3cret",
        },
    );
    let host = registry.host();
    let ca = registry.ca_file.clone().unwrap();
    let image = format!("oci://{host}/plugins/hello:1.0.0");
    let ca_arg = ca.display().to_string();
    // No credentials: a 401 that says none were found.
    let nobody = dir.join("nobody");
    std::fs::create_dir_all(&nobody).unwrap();
    let (ok, out) = wasmgate(
        &["push", &hello(), &image, "--ca-file", &ca_arg],
        &[("DOCKER_CONFIG", &nobody), ("HOME", &nobody)],
    );
    assert!(!ok);
    let line = error_line(&out);
    assert!(
        line.contains("401") && line.contains("credentials tried: none"),
        "{line}"
    );
    // The credentials of a docker config.
    let auth = |user: &str, password: &str| {
        use base64_like::encode;
        format!(
            r#"{{"auths": {{"{host}": {{"auth": "{}"}}}}}}"#,
            encode(&format!("{user}:{password}"))
        )
    };
    let docker = dir.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    write(&docker, "config.json", auth("alice", "s3cret"));
    let (ok, out) = wasmgate(
        &["push", &hello(), &image, "--ca-file", &ca_arg],
        &[("DOCKER_CONFIG", &docker)],
    );
    assert!(ok, "{out}");
    // A WasmPlugin's imagePullSecret, through the file wasmgate.yaml names for it.
    write(&dir, "regcred.json", auth("alice", "s3cret"));
    write(&dir, "wrong.json", auth("alice", "guess"));
    let resource = |secret: &str| {
        format!("apiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: hello\nspec:\n  url: {image}\n  imagePullSecret: {secret}\n  imagePullPolicy: Always\n  defaultConfig: {{mockEnable: false}}\n")
    };
    write(&dir, "hello.yaml", resource("regcred"));
    write(&dir, "hello-wrong.yaml", resource("wrong"));
    let head = format!("images:\n  ca_file: {}\n  pull_secrets:\n    regcred: regcred.json\n    wrong: wrong.json\n", ca.display());
    let upstream = echo().local_addr();
    let gateway = gateway_with(&dir, &head, "wasmplugin: hello.yaml", upstream).unwrap();
    says_hello(&gateway);
    drop(gateway);
    let out = gateway_with(&dir, &head, "wasmplugin: hello-wrong.yaml", upstream)
        .err()
        .expect("refused");
    let line = error_line(&out);
    assert!(
        line.contains("401") && line.contains("user alice from pull secret wrong"),
        "{line}"
    );
    // Or a Secret of the secrets store, as a cluster's pull secret holds it: its
    // `.dockerconfigjson` key.
    std::fs::create_dir_all(dir.join("secrets/storecred")).unwrap();
    write(
        &dir.join("secrets/storecred"),
        ".dockerconfigjson",
        auth("alice", "s3cret"),
    );
    write(&dir, "hello-store.yaml", resource("storecred"));
    let with_store = format!("{head}secrets:\n  dir: secrets\n");
    let gateway =
        gateway_with(&dir, &with_store, "wasmplugin: hello-store.yaml", upstream).unwrap();
    says_hello(&gateway);
    drop(gateway);
    let out = gateway_with(
        &dir,
        &with_store,
        "wasm: oci://x.test/p:1\n    image_pull_secret: missing",
        upstream,
    )
    .err()
    .expect("refused");
    let line = error_line(&out);
    assert!(
        line.contains("pull secret \"missing\" is neither in images.pull_secrets nor a Secret of the secrets store")
            && line.contains("secrets/missing/.dockerconfigjson"),
        "{line}"
    );
}

/// base64 for the docker config's `auth`, written out (the test needs nothing more).
mod base64_like {
    pub fn encode(text: &str) -> String {
        const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let bytes = text.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[test]
fn a_plugin_from_an_http_url_is_checked_against_its_sha256() {
    use std::io::{Read, Write};
    let module = std::fs::read(hello()).unwrap();
    let sha256: String = Sha256::digest(&module)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                module.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&module);
        }
    });
    let dir = tempdir("images-http");
    let upstream = echo().local_addr();
    let url = format!("http://{address}/plugins/hello.wasm");
    let gateway = gateway_with(
        &dir,
        "",
        &format!("wasm: {url}\n    sha256: {sha256}"),
        upstream,
    )
    .unwrap();
    says_hello(&gateway);
    drop(gateway);
    let other = format!("http://{address}/plugins/other.wasm");
    let out = gateway_with(
        &dir,
        "",
        &format!("wasm: {other}\n    sha256: {}", "1".repeat(64)),
        upstream,
    )
    .err()
    .expect("refused");
    assert!(error_line(&out).contains("sha256 mismatch"), "{out}");
}

#[test]
fn a_reload_whose_image_cannot_be_pulled_is_refused_and_the_plugin_keeps_serving() {
    let dir = tempdir("images-reload");
    let registry = Registry::plain(&dir.join("registry"));
    let image = format!("oci://{}/plugins/hello:1.0.0", registry.host());
    let (ok, out) = wasmgate(&["push", &hello(), &image], &[]);
    assert!(ok, "{out}");
    let upstream = echo().local_addr();
    let gateway = gateway_with(&dir, "", &format!("wasm: {image}"), upstream).unwrap();
    says_hello(&gateway);
    let missing = format!("oci://{}/plugins/hello:9.9.9", registry.host());
    let text = format!(
        "listen: {}\nclusters:\n  - name: echo\n    endpoints: [{upstream}]\nroutes:\n  - name: r\n    cluster: echo\nplugins:\n  - wasm: {missing}\n",
        gateway.address
    );
    write(&dir, "wasmgate.yaml", text);
    common::signal(&gateway.child, "HUP");
    let line = gateway.log_line("the reload's refusal", |l| l.contains("reload of"));
    assert!(
        line.contains("hello:9.9.9") && line.contains("not found"),
        "{line}"
    );
    says_hello(&gateway);
}
