//! `wasmgate run -c wasmgate.yaml` as its user sees it: the binary reloads the file when it
//! changes and on SIGHUP, keeps serving the old configuration when the new one is bad (and
//! says so), and refuses a bad file at start with one error line that names file and line.
//!
//! What the gateway does with a configuration is tested in-process in wasmgate-proxy.

mod common;

use std::time::{Duration, Instant};

use common::{echo, error_line, request, signal, start_with, tempdir, write, Config, Running};
use wasmgate_testkit::examples::{example, Lang};

#[test]
fn the_file_is_reloaded_when_it_changes_and_on_sighup() {
    let upstream = echo();
    let dir = tempdir("reload");
    let hello = example(Lang::Go, "hello");
    let routed = Config::routed_to(upstream.local_addr());
    let config_text = |mock: bool| {
        let config = format!("config: {{ mockEnable: {mock} }}");
        routed.clone().plugin("hello", &hello, &[&config]).text()
    };
    let gateway = start_with(&dir, &config_text(false));
    let address = gateway.address;
    let mocks = || request(address, "GET", "/", &[], b"").text() == "hello world";
    assert!(!mocks());
    // The file changes: the gateway notices and reloads.
    write(&dir, "wasmgate.yaml", config_text(true));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !mocks() {
        assert!(
            Instant::now() < deadline,
            "the change was not picked up: {}",
            gateway.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGHUP reloads too.
    write(&dir, "wasmgate.yaml", config_text(false));
    signal(&gateway.child, "HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while mocks() {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A bad configuration is refused and the gateway keeps the old one.
    write(&dir, "wasmgate.yaml", "listen: [not an address\n");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(request(address, "GET", "/", &[], b"").status, 200);
    // The refusal is logged.
    gateway.log_line("reload refusal", |l| l.contains("reload of"));
}

#[test]
fn a_bad_file_is_one_error_line_with_file_and_line() {
    let dir = tempdir("badconfig");
    let pki = common::Pki::new(&dir);
    let other = pki.server("other", &["other.test"]);
    let api = pki.server("api", &["api.test"]);
    let mismatched = format!(
        "listen:\n  - address: 127.0.0.1:0\n    tls:\n      certificates:\n        - cert: {}\n          key: {}\n",
        api.cert.display(),
        other.key.display()
    );
    for (text, at, says) in [
        (
            "listen: 127.0.0.1:0\nlisen: oops\n",
            2,
            "unknown field `lisen`",
        ),
        (
            "listen:\n  - address: 127.0.0.1:0\n    tsl: {}\n",
            3,
            "unknown field `tsl`",
        ),
        (mismatched.as_str(), 5, "does not go with the certificate"),
    ] {
        let file = write(&dir, "wasmgate.yaml", text);
        let output = match Running::try_start_file(&file) {
            Ok(_) => panic!("started with a bad configuration:\n{text}"),
            Err(e) => e,
        };
        let line = error_line(&output);
        assert!(
            line.contains(&format!("wasmgate.yaml:{at}:")) && line.contains(says),
            "{line}"
        );
    }
}
