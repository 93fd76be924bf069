//! TLS listeners and HTTP/2 from the client's side, with curl: HTTPS and h2 (ALPN) and h2c
//! (prior knowledge) through a plugin chain answer as HTTP/1.1 does; the certificate is
//! chosen by SNI; client certificates are checked and shown to plugins; a reload serves
//! changed certificate files, and a bad key is refused while the old listener serves on.

use std::net::SocketAddr;
use std::path::Path;

use crate::common::{self, curl, echo, tempdir, Config, CurlAnswer, Issued, Pki, Running};
use wasmgate_testkit::examples::{example, fixture, Lang};

/// A TLS listener with `certificates` (and what more under `tls:`), and a plain one.
fn tls_and_plain(certificates: &[&Issued], more_tls: &[&str]) -> String {
    let mut yaml =
        String::from("listen:\n  - address: 127.0.0.1:0\n    tls:\n      certificates:\n");
    for issued in certificates {
        yaml += &format!(
            "        - {{cert: {}, key: {}}}\n",
            issued.cert.display(),
            issued.key.display()
        );
    }
    for line in more_tls {
        yaml += &format!("      {line}\n");
    }
    yaml += "  - address: 127.0.0.1:0\n";
    yaml
}

/// sdk-hello (adds `hello: world`) then abi-probe (reports the connection), to the echo.
fn probe_chain(upstream: SocketAddr, listen: &str) -> Config {
    Config::routed_to(upstream)
        .listen(listen)
        .plugin("hello", example(Lang::Rust, "sdk-hello"), &[])
        .plugin("probe", fixture("abi-probe"), &[])
}

/// `https://NAME:PORT/path` with NAME resolved to the listener, trusting the test CA.
fn https(name: &str, gateway: &Running, pki: &Pki, extra: &[&str]) -> CurlAnswer {
    let port = gateway.gateway().local_addrs()[0].port();
    let resolve = format!("{name}:{port}:127.0.0.1");
    let url = format!("https://{name}:{port}/tls/path?q=1");
    let ca = pki.ca_file.display().to_string();
    let mut args = vec![
        "--cacert",
        &ca,
        "--resolve",
        &resolve,
        "-H",
        "x-probe: connection",
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

fn plain(gateway: &Running, extra: &[&str]) -> CurlAnswer {
    let url = format!(
        "http://127.0.0.1:{}/tls/path?q=1",
        gateway.gateway().local_addrs()[1].port()
    );
    let mut args = vec!["-H", "x-probe: connection"];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

fn seen(answer: &CurlAnswer, header: &str) -> String {
    answer
        .upstream_header(header)
        .unwrap_or_else(|| panic!("the upstream got no {header}: {answer:?}"))
}

/// What `openssl x509 -noout ARGS` prints of `cert`, after its `name=`.
fn openssl_x509(cert: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("openssl")
        .args(["x509", "-noout"])
        .args(args)
        .arg("-in")
        .arg(cert)
        .output()
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let (_, value) = text.trim().split_once('=').expect("name=value");
    value.to_string()
}

/// The subject as OpenSSL prints it in RFC 2253 form, as Envoy reports it.
fn openssl_subject(cert: &Path) -> String {
    openssl_x509(cert, &["-subject", "-nameopt", "RFC2253"])
}

fn sha256_fingerprint(cert: &Path) -> String {
    let hex = openssl_x509(cert, &["-fingerprint", "-sha256"]);
    hex.replace(':', "").to_ascii_lowercase()
}

#[test]
fn https_h2_and_h2c_through_a_plugin_chain_answer_as_http1_does() {
    let dir = tempdir("tls-h2");
    let pki = Pki::new(&dir);
    let api = pki.server("api", &["api.test"]);
    let upstream = echo();
    let config = probe_chain(upstream.local_addr(), &tls_and_plain(&[&api], &[]));
    let gateway = common::start(&config, &dir);

    let answers = [
        ("http/1.1", plain(&gateway, &["--http1.1"])),
        ("h2c", plain(&gateway, &["--http2-prior-knowledge"])),
        (
            "https/1.1",
            https("api.test", &gateway, &pki, &["--http1.1"]),
        ),
        ("https/2", https("api.test", &gateway, &pki, &["--http2"])),
    ];
    for (name, answer) in &answers {
        assert_eq!(answer.status, 200, "{name}: {answer:?}");
        assert_eq!(seen(answer, "hello"), "world", "{name}: the chain ran");
        let echoed = answer.echoed();
        assert_eq!(echoed["method"], "GET", "{name}");
        assert_eq!(echoed["path"], "/tls/path?q=1", "{name}");
    }
    let versions: Vec<&str> = answers.iter().map(|(_, a)| a.version.as_str()).collect();
    assert_eq!(versions, ["1.1", "2", "1.1", "2"]);
    let view = |i: usize, header: &str| seen(&answers[i].1, header);
    for (i, protocol, scheme) in [
        (0, "HTTP/1.1", "http"),
        (1, "HTTP/2", "http"),
        (2, "HTTP/1.1", "https"),
        (3, "HTTP/2", "https"),
    ] {
        assert_eq!(view(i, "x-conn-request.protocol"), protocol, "answer {i}");
        assert_eq!(view(i, "x-conn-scheme"), scheme, "answer {i}");
        assert_eq!(view(i, "x-conn-request.scheme"), scheme, "answer {i}");
        assert_eq!(view(i, "x-forwarded-proto"), scheme, "answer {i}");
        // HTTP/1's Host and HTTP/2's :authority are the same header to plugins.
        let names = |i: usize| {
            let mut names: Vec<String> = view(i, "x-conn-header-names")
                .split(',')
                .map(str::to_string)
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            names(i),
            names(0),
            "answer {i}: the same headers as HTTP/1.1, no connection-specific ones"
        );
    }
    let port = gateway.gateway().local_addrs()[0].port();
    assert_eq!(view(3, "x-conn-authority"), format!("api.test:{port}"));
    // The TLS facts, as Envoy encodes them; a plain connection has none but mtls and SNI.
    assert_eq!(
        view(3, "x-conn-connection.requested_server_name"),
        "api.test"
    );
    assert_eq!(view(3, "x-conn-connection.tls_version"), "TLSv1.3");
    assert_eq!(
        view(3, "x-conn-connection.subject_local_certificate"),
        openssl_subject(&api.cert)
    );
    assert_eq!(
        view(3, "x-conn-connection.dns_san_local_certificate"),
        "api.test"
    );
    assert_eq!(view(3, "x-conn-connection.mtls"), "\\x00");
    assert_eq!(
        view(3, "x-conn-connection.subject_peer_certificate"),
        "<missing>"
    );
    assert_eq!(view(1, "x-conn-connection.tls_version"), "<missing>");
    // Empty (the Rust SDK reads an empty value as none).
    assert_eq!(
        view(1, "x-conn-connection.requested_server_name"),
        "<missing>"
    );
    assert_eq!(view(1, "x-conn-connection.mtls"), "\\x00");
}

#[test]
fn the_certificate_is_chosen_by_sni_and_the_first_serves_unknown_names() {
    let dir = tempdir("tls-sni");
    let pki = Pki::new(&dir);
    let api = pki.server("api", &["api.test"]);
    let web = pki.server("web", &["*.web.test"]);
    let upstream = echo();
    let config = probe_chain(upstream.local_addr(), &tls_and_plain(&[&api, &web], &[]));
    let gateway = common::start(&config, &dir);

    for (name, served, trusted) in [
        ("api.test", &api, true),
        ("www.web.test", &web, true),
        ("other.test", &api, false),
    ] {
        // curl checks the certificate against the name: a wrong choice fails the request.
        let extra: &[&str] = if trusted { &["--http2"] } else { &["-k"] };
        let answer = https(name, &gateway, &pki, extra);
        assert_eq!(answer.status, 200, "{name}: {answer:?}");
        assert_eq!(
            seen(&answer, "x-conn-connection.requested_server_name"),
            name
        );
        assert_eq!(
            seen(&answer, "x-conn-connection.subject_local_certificate"),
            openssl_subject(&served.cert),
            "{name}"
        );
    }
}

#[test]
fn client_certificates_are_checked_and_shown_to_plugins() {
    let dir = tempdir("tls-mtls");
    let pki = Pki::new(&dir);
    let api = pki.server("api", &["api.test"]);
    let alice = pki.client("alice", "alice", "spiffe://wasmgate.test/alice");
    let stranger = Pki::new(&tempdir("tls-mtls-other")).client("eve", "eve", "spiffe://x/eve");
    let upstream = echo();
    let ca = format!("client_ca: {}", pki.ca_file.display());
    let config = probe_chain(upstream.local_addr(), &tls_and_plain(&[&api], &[&ca]));
    let gateway = common::start(&config, &dir);
    let with_cert = |issued: &Issued| {
        let (cert, key) = (issued.cert.display(), issued.key.display());
        https(
            "api.test",
            &gateway,
            &pki,
            &["--cert", &cert.to_string(), "--key", &key.to_string()],
        )
    };

    let answer = with_cert(&alice);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(seen(&answer, "x-conn-connection.mtls"), "\\x01");
    assert_eq!(
        seen(&answer, "x-conn-connection.subject_peer_certificate"),
        openssl_subject(&alice.cert)
    );
    assert_eq!(
        seen(&answer, "x-conn-connection.uri_san_peer_certificate"),
        "spiffe://wasmgate.test/alice"
    );
    assert_eq!(
        seen(&answer, "x-conn-connection.sha256_peer_certificate_digest"),
        sha256_fingerprint(&alice.cert)
    );
    // Optional: a client without a certificate is served, and is no mTLS peer.
    let anonymous = https("api.test", &gateway, &pki, &[]);
    assert_eq!(anonymous.status, 200, "{anonymous:?}");
    assert_eq!(seen(&anonymous, "x-conn-connection.mtls"), "\\x00");
    // A certificate from another CA is refused in the handshake.
    let refused = with_cert(&stranger);
    assert!(
        refused.error.is_some() && refused.status == 0,
        "{refused:?}"
    );
    drop(gateway);

    let required = [ca.as_str(), "require_client_certificate: true"];
    let config = probe_chain(upstream.local_addr(), &tls_and_plain(&[&api], &required));
    let gateway = common::start(&config, &dir);
    let refused = https("api.test", &gateway, &pki, &[]);
    assert!(
        refused.error.is_some() && refused.status == 0,
        "{refused:?}"
    );
    let (cert, key) = (
        alice.cert.display().to_string(),
        alice.key.display().to_string(),
    );
    let served = https(
        "api.test",
        &gateway,
        &pki,
        &["--cert", &cert, "--key", &key],
    );
    assert_eq!(
        served.status, 200,
        "the gateway serves on after a refusal: {served:?}"
    );
}

#[test]
fn a_reload_serves_changed_certificates_and_a_bad_key_is_refused_by_line() {
    let dir = tempdir("tls-reload");
    let pki = Pki::new(&dir);
    let api = pki.server("api", &["api.test"]);
    let upstream = echo();
    let config = probe_chain(upstream.local_addr(), &tls_and_plain(&[&api], &[]));
    let text = config.text();
    let gateway = common::start(&config, &dir);
    let san = |gateway: &Running| {
        let answer = https("api.test", gateway, &pki, &[]);
        assert_eq!(answer.status, 200, "{answer:?}");
        seen(&answer, "x-conn-connection.dns_san_local_certificate")
    };
    assert_eq!(san(&gateway), "api.test");

    // New files under the same names: the reload reads them.
    pki.server("api", &["v2.api.test", "api.test"]);
    let kept = gateway
        .gateway()
        .reload(common::config_file(&dir, &text))
        .expect("the reload is taken");
    assert!(kept.is_empty(), "{kept:?}");
    assert_eq!(san(&gateway), "v2.api.test");

    // A key that is not PEM is refused with the line that names it; the listener serves on.
    std::fs::write(&api.key, "not a key").expect("key overwritten");
    let path = dir.join("wasmgate.yaml");
    let error = wasmgate_proxy::parse_config(&path, &text).expect_err("a bad key is refused");
    let key_line = text
        .lines()
        .position(|l| l.contains(&api.key.display().to_string()))
        .map(|i| i + 1);
    assert_eq!(error.line, key_line, "{error}");
    assert!(error.reason.contains("holds no PEM private key"), "{error}");
    let mut config = common::config_file(&dir, "listen: 127.0.0.1:0\n");
    config.listeners = gateway_listeners(&api);
    let refused = gateway.gateway().reload(config).expect_err("refused");
    assert!(
        refused.to_string().contains("holds no PEM private key"),
        "{refused}"
    );
    assert_eq!(san(&gateway), "v2.api.test");
}

/// The listeners of [`tls_and_plain`] with one certificate, as the API builds them.
fn gateway_listeners(issued: &Issued) -> Vec<wasmgate_proxy::ListenerSpec> {
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let tls = wasmgate_proxy::ListenerSpec {
        address: any_port,
        tls: Some(wasmgate_proxy::ListenerTls {
            certificates: vec![wasmgate_proxy::CertificateSpec {
                cert: issued.cert.clone(),
                key: issued.key.clone(),
            }],
            client_ca: None,
            require_client_certificate: false,
        }),
    };
    vec![tls, wasmgate_proxy::ListenerSpec::plain(any_port)]
}

/// An HTTP/2 client waiting for a GOAWAY (Python's h2), once it is connected.
struct GoawayWatch {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl GoawayWatch {
    fn start(port: u16, tls: Option<(&Pki, &str)>) -> GoawayWatch {
        use std::io::BufRead;
        let mut args = vec![
            "-c".to_string(),
            include_str!("python/h2_raw.py").to_string(),
            "127.0.0.1".to_string(),
            port.to_string(),
            "await-goaway".to_string(),
            "3".to_string(),
        ];
        if let Some((pki, name)) = tls {
            args.push(pki.ca_file.display().to_string());
            args.push(name.to_string());
        }
        let mut child = std::process::Command::new(common::python())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python runs");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines.next().and_then(|l| l.ok());
        assert_eq!(first.as_deref(), Some("connected"));
        GoawayWatch { child, lines }
    }

    /// `goaway` or `none`.
    fn outcome(mut self) -> String {
        let line = self.lines.next().and_then(|l| l.ok()).unwrap_or_default();
        let _ = self.child.wait();
        line
    }
}

#[test]
fn a_reload_with_new_certificates_sends_their_clients_goaway_and_spares_the_rest() {
    let dir = tempdir("tls-goaway");
    let pki = Pki::new(&dir);
    let api = pki.server("api", &["api.test"]);
    let upstream = echo();
    let config = probe_chain(upstream.local_addr(), &tls_and_plain(&[&api], &[]));
    let text = config.text();
    let gateway = common::start(&config, &dir);
    let ports: Vec<u16> = gateway
        .gateway()
        .local_addrs()
        .iter()
        .map(|a| a.port())
        .collect();

    // The same files again: nobody is disconnected.
    let tls_client = GoawayWatch::start(ports[0], Some((&pki, "api.test")));
    let reload = || {
        gateway
            .gateway()
            .reload(common::config_file(&dir, &text))
            .expect("the reload is taken")
    };
    reload();
    assert_eq!(tls_client.outcome(), "none", "unchanged certificates");

    let tls_client = GoawayWatch::start(ports[0], Some((&pki, "api.test")));
    let plain_client = GoawayWatch::start(ports[1], None);
    pki.server("api", &["api.test", "v3.api.test"]);
    reload();
    assert_eq!(
        tls_client.outcome(),
        "goaway",
        "the TLS listener's certificate changed"
    );
    assert_eq!(
        plain_client.outcome(),
        "none",
        "the plain listener did not change"
    );
}

#[test]
fn a_reload_listing_other_addresses_keeps_the_running_tls_listener() {
    let dir = tempdir("tls-moved");
    let pki = Pki::new(&dir);
    let api = pki.server("api", &["api.test"]);
    let upstream = echo();
    let config = probe_chain(upstream.local_addr(), &tls_and_plain(&[&api], &[]));
    let gateway = common::start(&config, &dir);
    let moved = probe_chain(upstream.local_addr(), "listen: 127.0.0.1:1\n");
    let kept = gateway
        .gateway()
        .reload(common::config_file(&dir, &moved.text()))
        .expect("the reload is taken");
    assert!(
        kept.iter().any(|k| k.contains("takes a restart")),
        "{kept:?}"
    );
    // The first listener still speaks TLS with its certificate, the second plain HTTP.
    let answer = https("api.test", &gateway, &pki, &["--http2"]);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(seen(&answer, "x-conn-request.scheme"), "https");
    assert_eq!(plain(&gateway, &[]).status, 200);
}
