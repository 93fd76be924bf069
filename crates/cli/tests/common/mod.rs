//! Helpers for the `wasmgate` binary's tests: start `wasmgate run` and wait until it
//! listens; the workspace's test helpers (HTTP client, upstreams, scratch files) besides.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use wasmgate_test_support::*;

/// A running `wasmgate run`.
pub struct Running {
    pub child: Child,
    pub address: SocketAddr,
    pub admin: Option<SocketAddr>,
    /// Its first line of output: `wasmgate listening on http://… -> … (plugins: …)`.
    pub banner: String,
    pub stderr: Output,
}

impl Running {
    /// Starts `wasmgate run -c FILE` (the file sets its own listen address) and waits.
    pub fn start_file(file: &std::path::Path) -> Running {
        Self::try_start_file(file).unwrap_or_else(|e| panic!("wasmgate run -c did not start: {e}"))
    }

    /// Like [`Running::start_file`], returning the error output when it exits instead.
    pub fn try_start_file(file: &std::path::Path) -> Result<Running, String> {
        Self::spawn([OsStr::new("-c"), file.as_os_str()])
    }

    /// Starts `wasmgate run ARGS --listen 127.0.0.1:0` and waits for its address.
    pub fn start(args: &[&str]) -> Running {
        Self::try_start(args).unwrap_or_else(|e| panic!("wasmgate run did not start: {e}"))
    }

    /// Like [`Running::start`], returning the error output when it exits instead.
    pub fn try_start(args: &[&str]) -> Result<Running, String> {
        let workers = if args.contains(&"--workers") {
            &[][..]
        } else {
            &["--workers", "2"][..]
        };
        Self::spawn(
            args.iter()
                .chain(&["--listen", "127.0.0.1:0"])
                .chain(workers),
        )
    }

    /// Starts `wasmgate run ARGS` with the tests' module cache and waits until it listens.
    fn spawn(args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Result<Running, String> {
        let child = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
            .arg("run")
            .args(args)
            .env("WASMGATE_CACHE_DIR", cache_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wasmgate");
        Self::wait_ready(child)
    }

    fn wait_ready(mut child: Child) -> Result<Running, String> {
        let stderr = drain(child.stderr.take().expect("stderr"));
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(|l| l.ok());
        let admin = match lines.next().and_then(|l| l.ok()) {
            Some(line) if line.starts_with("admin on http://") => line["admin on http://".len()..]
                .split_whitespace()
                .next()
                .and_then(|a| a.parse().ok()),
            _ => None,
        };
        std::thread::spawn(move || for _ in lines {});
        let listening = first.as_deref().and_then(|line| {
            let rest = line.strip_prefix("wasmgate listening on ")?;
            let rest = rest
                .strip_prefix("http://")
                .or_else(|| rest.strip_prefix("https://"))?;
            rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
        });
        match (first, listening) {
            (Some(line), Some(address)) => Ok(Running {
                child,
                address,
                admin,
                banner: line,
                stderr,
            }),
            (other, _) => {
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                let err = stderr.lock().unwrap().clone();
                Err(format!("stdout {other:?}, stderr: {err}"))
            }
        }
    }

    /// Waits up to 5 s for a line of the error output that `wanted` picks, and returns it;
    /// panics with `no WHAT in …` (the whole output) when none comes.
    #[track_caller]
    pub fn log_line(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        wait_for_line(&self.stderr, what, wanted)
    }
}

impl Client for Running {
    fn address(&self) -> SocketAddr {
        self.address
    }
}

/// The first line of `output` from `error: ` on (the binary's one-line error), checked not
/// to repeat the cause of a missing file.
#[track_caller]
pub fn error_line(output: &str) -> String {
    let start = output
        .find("error: ")
        .unwrap_or_else(|| panic!("no error line in {output}"));
    let line = output[start..].lines().next().unwrap_or_default();
    assert!(
        !line.contains("os error 2): No such"),
        "repeated cause: {line}"
    );
    line.to_string()
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `DIR/wasmgate.yaml` and starts `wasmgate run -c` on it.
pub fn start_with(dir: &Path, text: &str) -> Running {
    Running::start_file(&write(dir, "wasmgate.yaml", text))
}
