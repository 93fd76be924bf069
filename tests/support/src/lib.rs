//! What the workspace's tests share, so that each crate's tests say only what they test:
//!
//! - [`http`]: a raw HTTP/1.1 client whose answers are de-chunked, a fixed-answer upstream,
//!   the echo upstream, free and dead loopback addresses.
//! - [`config`]: `wasmgate.yaml` text, built entry by entry.
//! - [`scratch`]: scratch directories and files, the tests' compiled-module cache.
//! - [`process`]: a child's output collected while it runs, a command run to its end, the
//!   target directory of a test binary, waiting for a log line.
//!
//! Helpers panic on what is not expected: they are for tests.

pub mod config;
pub mod http;
pub mod process;
pub mod scratch;

pub use config::Config;
pub use http::{
    dead_address, dechunk, echo, exchange, fixed_upstream, free_port, parse_response, request,
    Body, Client, Response,
};
pub use process::{drain, run, signal, target_dir, wait_for_line, Output};
pub use scratch::{cache_dir, repo_root, tempdir, write};
