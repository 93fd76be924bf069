//! A conformance case: its chain, requests and expectation; running it through both hosts
//! and comparing the answers.

use std::net::SocketAddr;
use std::time::Duration;

use wasmgate_proxy::{EchoServer, Gateway};

use crate::endpoints::{Endpoint, Silent};
use crate::exchange::Exchange;
use crate::grpc_server::GrpcServer;
use crate::hosts::Hosts;
use crate::{envoy, gateway_config, listener_tls, one_at_a_time, transport};
use crate::{Plugin, Request, Transport};

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
        let mut config = gateway_config(&self.plugins, upstream, &callouts);
        if let Some(certificates) = &certificates {
            config.listeners[0].tls = Some(listener_tls(certificates));
        }
        let mut hosts = Hosts::start(&self.name, config);
        let exchanges = self
            .requests
            .iter()
            .map(|r| hosts.exchange(r, &self.transport, certificates.as_ref()))
            .collect();
        let metrics = self.metric_differences(hosts.envoy(), hosts.gateway());
        hosts.stop();
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
