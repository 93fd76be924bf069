//! Both hosts on one configuration: Envoy on wasmgate's export of it and an in-process
//! wasmgate gateway; one request sent to each, the answers and the plugins' log lines taken
//! as an [`Exchange`].

use std::net::SocketAddr;
use std::sync::Arc;

use wasmgate_proxy::{Gateway, GatewayConfig, PluginLogs};

use crate::exchange::Exchange;
use crate::transport::{Certificates, Transport};
use crate::{envoy, logs, Request, LOG_SETTLE};

/// Envoy and wasmgate, started on the same configuration.
pub struct Hosts {
    name: String,
    envoy: envoy::Envoy,
    gateway: Gateway,
    recorder: Arc<logs::Recorder>,
    envoy_seen: usize,
}

impl Hosts {
    /// Starts Envoy on the export of `config`, then wasmgate on `config`; panics (naming
    /// `name`) when either does not start.
    pub fn start(name: &str, mut config: GatewayConfig) -> Hosts {
        let envoy =
            envoy::Envoy::start(name, &config).unwrap_or_else(|e| panic!("case {name}: {e}"));
        let recorder = Arc::new(logs::Recorder::default());
        config.plugin_logs = PluginLogs(recorder.clone());
        let gateway = Gateway::start(config)
            .unwrap_or_else(|e| panic!("case {name}: wasmgate does not start: {e}"));
        // Lines logged while starting (each host builds its VMs its own way) are not compared.
        std::thread::sleep(LOG_SETTLE);
        let envoy_seen = envoy.plugin_lines().len();
        recorder.take();
        Hosts {
            name: name.to_string(),
            envoy,
            gateway,
            recorder,
            envoy_seen,
        }
    }

    /// Sends `request` to Envoy, then to wasmgate, over `transport`.
    pub fn exchange(
        &mut self,
        request: &Request,
        transport: &Transport,
        certificates: Option<&Certificates>,
    ) -> Exchange {
        let name = &self.name;
        let started = std::time::Instant::now();
        let on_envoy = transport
            .send(self.envoy.address(), request, certificates)
            .unwrap_or_else(|e| panic!("case {name}: envoy: {request}: {e}"));
        let envoy_took = started.elapsed();
        std::thread::sleep(LOG_SETTLE);
        let envoy_logs: Vec<logs::Line> = self
            .envoy
            .plugin_lines()
            .into_iter()
            .skip(self.envoy_seen)
            .collect();
        self.envoy_seen += envoy_logs.len();
        let started = std::time::Instant::now();
        let on_wasmgate = transport
            .send(self.wasmgate_address(), request, certificates)
            .unwrap_or_else(|e| panic!("case {name}: wasmgate: {request}: {e}"));
        let wasmgate_took = started.elapsed();
        std::thread::sleep(LOG_SETTLE);
        let wasmgate_logs = self.recorder.take();
        if std::env::var_os("WASMGATE_CONFORMANCE_VERBOSE").is_some() {
            eprintln!("case {name}: {request}: envoy {envoy_took:?}, wasmgate {wasmgate_took:?}");
        }
        Exchange {
            request: request.clone(),
            envoy: on_envoy,
            wasmgate: on_wasmgate,
            envoy_logs,
            wasmgate_logs,
        }
    }

    /// The running Envoy.
    pub fn envoy(&self) -> &envoy::Envoy {
        &self.envoy
    }

    /// The running gateway.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// wasmgate's first listener.
    pub fn wasmgate_address(&self) -> SocketAddr {
        self.gateway.local_addrs()[0]
    }

    /// Stops both.
    pub fn stop(self) {
        self.gateway.shutdown();
        self.envoy.stop();
    }
}

/// Sends `requests` over plain HTTP/1.1 through both hosts on `config`; the exchanges.
pub fn compare(name: &str, config: GatewayConfig, requests: &[Request]) -> Vec<Exchange> {
    let _one = crate::one_at_a_time();
    let mut hosts = Hosts::start(name, config);
    let exchanges = requests
        .iter()
        .map(|r| hosts.exchange(r, &Transport::Http1, None))
        .collect();
    hosts.stop();
    exchanges
}
