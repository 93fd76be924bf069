//! Real HTTP clients for edge tests: Debian's `curl` (HTTP/2, TLS, SNI by `--resolve`,
//! client certificates) and the project's Python (`.venv`, with httpx and h2).

use std::path::PathBuf;
use std::process::Command;

use crate::scratch::repo_root;

/// What curl got: the status, the HTTP version (`1.1`, `2`), the response headers (lower
/// case) and the body.
#[derive(Debug, Clone)]
pub struct CurlAnswer {
    /// The status code; 0 when curl got no answer.
    pub status: u16,
    /// The HTTP version curl spoke.
    pub version: String,
    /// The response headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
    /// curl's exit code and stderr when it failed.
    pub error: Option<String>,
}

impl CurlAnswer {
    /// The echo upstream's report of the request it received.
    pub fn echoed(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not an echo reply ({e}): {self:?}"))
    }

    /// A header as the echo upstream received it.
    pub fn upstream_header(&self, name: &str) -> Option<String> {
        self.echoed()["headers"][name].as_str().map(str::to_string)
    }
}

/// Runs `curl` with `args` (the URL among them) and reads its answer.
pub fn curl(args: &[&str]) -> CurlAnswer {
    let headers_file = crate::scratch::tempdir("curl").join("headers");
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-D"])
        .arg(&headers_file)
        .args(["-w", "\n%{http_code} %{http_version}"])
        .args(args)
        .output()
        .expect("curl runs (Debian package curl)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, trailer) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let mut fields = trailer.split(' ');
    let status = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let version = fields.next().unwrap_or_default().to_string();
    let headers = std::fs::read_to_string(&headers_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let error = (!output.status.success()).then(|| {
        format!(
            "curl exit {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    CurlAnswer {
        status,
        version,
        headers,
        body: body.to_string(),
        error,
    }
}

/// The project's Python with httpx, h2, grpcio and websockets: `WASMGATE_PYTHON`, else `.venv/bin/python3`
/// (`scripts/test.sh` installs them). Panics with how to get it when missing.
pub fn python() -> PathBuf {
    let python = std::env::var_os("WASMGATE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python3"));
    let ready = Command::new(&python)
        .args(["-c", "import httpx, h2, grpc, websockets"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ready,
        "{} has no httpx/h2/grpcio/websockets: run `source scripts/lib.sh && ensure_python_clients`",
        python.display()
    );
    python
}

/// Runs the Python `script` with `args`; returns its stdout, panicking with its stderr when
/// it fails.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the python client failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A Python server run from `script`: it prints the port it listens on (127.0.0.1) as the
/// first line of its stdout. Killed when dropped.
pub struct PythonServer {
    child: std::process::Child,
    /// Where it listens.
    pub address: std::net::SocketAddr,
}

impl PythonServer {
    /// Starts `script` with `args`; panics when it does not say its port.
    pub fn start(script: &str, args: &[&str]) -> PythonServer {
        use std::io::BufRead;
        let mut child = Command::new(python())
            .arg("-c")
            .arg(script)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python runs");
        let stdout = child.stdout.take().expect("a piped stdout");
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let port: u16 = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!("the python server did not print its port: {line:?}");
            }
        };
        PythonServer {
            child,
            address: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
