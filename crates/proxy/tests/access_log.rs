//! The access log: one JSON line per request (`access_log: json`), with the route, the
//! status, the upstream and the attributes plugins set with `custom_log`.
//!
//! The gateway writes it with `tracing` (target `access`); this test binary installs a
//! subscriber that keeps the lines, as the `wasmgate` binary prints them.

#[path = "gateway/common/mod.rs"]
mod common;

use std::io::Write;

use common::{echo, start, tempdir, wait_for_line, Client, Config, Output};
use wasmgate_testkit::examples::fixture;

/// Where the test's subscriber writes.
#[derive(Clone)]
struct Capture(Output);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_access_log_carries_custom_log_attributes() {
    let log = Output::default();
    let capture = Capture(log.clone());
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || capture.clone())
            .finish(),
    )
    .expect("the only subscriber of this test binary");
    let upstream = echo();
    let dir = tempdir("accesslog");
    let config = Config::new()
        .setting("access_log: json")
        .cluster("echo", upstream.local_addr(), &[])
        .route("r1", "echo", &[])
        .plugin("probe", fixture("abi-probe"), &[]);
    let gateway = start(&config, &dir);
    assert_eq!(
        gateway
            .get(
                "/logged",
                &[("x-probe", "props"), ("x-request-id", "rid-42")]
            )
            .status,
        200
    );
    let line = wait_for_line(&log, "access log line", |l| {
        l.contains("rid-42") && l.contains("\"path\":\"/logged\"")
    });
    let json = &line[line.find('{').unwrap()..];
    let entry: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(entry["k"], "v", "{line}");
    assert_eq!(entry["route"], "r1");
    assert_eq!(entry["status"], 200);
    assert_eq!(entry["protocol"], "HTTP/1.1");
    assert_eq!(entry["upstream"], upstream.local_addr().to_string());
}
