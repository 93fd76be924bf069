//! What the workspace's tests share, so that each crate's tests say only what they test:
//!
//! - [`http`]: a raw HTTP/1.1 client whose answers are de-chunked, a fixed-answer upstream,
//!   the echo upstream, free and dead loopback addresses.
//! - [`clients`]: real clients: curl (HTTP/2, TLS) and the project's Python (httpx, h2).
//! - [`pki`]: a test CA and the server and client certificates it signs.
//! - [`config`]: `wasmgate.yaml` text, built entry by entry.
//! - [`scratch`]: scratch directories and files, the tests' compiled-module cache.
//! - [`registry`]: a real OCI registry (`docker-registry`), plain or with auth behind TLS.
//! - [`process`]: a child's output collected while it runs, a command run to its end, the
//!   target directory of a test binary, waiting for a log line.
//!
//! Helpers panic on what is not expected: they are for tests.

pub mod clients;
pub mod config;
pub mod http;
pub mod pki;
pub mod process;
pub mod registry;
pub mod scratch;

pub use clients::{curl, python, run_python, CurlAnswer, PythonServer};
pub use config::Config;
pub use http::{
    dead_address, dechunk, echo, exchange, fixed_upstream, free_port, parse_response, request,
    Body, Client, Response,
};
pub use pki::{Issued, Pki};
pub use process::{drain, run, signal, target_dir, wait_for_line, Output};
pub use registry::{Login, Registry};
pub use scratch::{cache_dir, repo_root, tempdir, write};
