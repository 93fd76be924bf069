//! [`Gateway`]: a running gateway. It binds the listeners, starts the admin thread and N
//! worker threads (see `worker`), takes reloads (a new generation beside the old one; see
//! `control`) and shuts down in order.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use tokio::sync::{mpsc as async_mpsc, watch};
use wasmgate_host::{Shared, Tier};

use crate::admin;
use crate::config::GatewayConfig;
use crate::control::generation::Generation;
use crate::control::rollout::{await_workers, Control};
use crate::control::tier_up;
use crate::edge::listener::bind;
use crate::error::GatewayError;
use crate::metrics::GatewayMetrics;
use crate::worker::thread::{self, WorkerSetup};

/// A running gateway.
pub struct Gateway {
    /// The listeners' addresses as bound, in configuration order.
    addresses: Vec<SocketAddr>,
    admin_address: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    control: Arc<Control>,
    threads: Vec<JoinHandle<()>>,
    shared: Shared,
    metrics: Arc<GatewayMetrics>,
    /// The sockets and threads made at the start, as configured then.
    started: Started,
}

/// The settings a reload cannot change: the gateway binds and spawns once.
#[derive(Clone, PartialEq)]
struct Started {
    listen: Vec<SocketAddr>,
    admin: Option<SocketAddr>,
    workers: usize,
}

impl Started {
    fn of(config: &GatewayConfig) -> Started {
        Started {
            listen: config.listeners.iter().map(|l| l.address).collect(),
            admin: config.admin,
            workers: config.workers.max(1),
        }
    }

    /// What `config` asks of these settings in vain, a message each; `listening` and
    /// `admin_listening` are the addresses bound at the start.
    fn unchanged_by(
        &self,
        config: &GatewayConfig,
        listening: &[SocketAddr],
        admin_listening: Option<SocketAddr>,
    ) -> Vec<String> {
        let asked = Started::of(config);
        let mut kept = Vec::new();
        if asked.listen != self.listen {
            let shown = |addresses: &[SocketAddr]| {
                addresses
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            kept.push(format!(
                "listen: {} takes a restart; still listening on {}",
                shown(&asked.listen),
                shown(listening)
            ));
        }
        if asked.admin != self.admin {
            let shown = |a: Option<SocketAddr>| a.map_or("none".to_string(), |a| a.to_string());
            kept.push(format!(
                "admin: {} takes a restart; still {}",
                shown(asked.admin),
                shown(admin_listening)
            ));
        }
        if asked.workers != self.workers {
            kept.push(format!(
                "workers: {} takes a restart; still {} workers",
                asked.workers, self.workers
            ));
        }
        kept
    }
}

impl Gateway {
    /// Loads the plugins, checks that each starts with its configuration, binds the
    /// listeners and starts the workers. Returns once every worker serves.
    pub fn start(config: GatewayConfig) -> Result<Gateway, GatewayError> {
        let shared = Shared::default();
        let metrics = Arc::new(GatewayMetrics::default());
        let generation = Arc::new(Generation::compile(config, &shared, &[])?);
        let config = generation.config.clone();
        let started = Started::of(&config);
        if config.listeners.is_empty() {
            return Err(GatewayError::NoListener);
        }
        let mut listeners = Vec::new();
        let mut addresses = Vec::new();
        for spec in &config.listeners {
            let (listener, address) = bind(spec.address)?;
            listeners.push(listener);
            addresses.push(address);
        }
        let (shutdown, stop) = watch::channel(false);
        let ready = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut admin_address = None;
        if let Some(admin_listen) = config.admin {
            let (admin_listener, bound) = bind(admin_listen)?;
            admin_address = Some(bound);
            let state = admin::AdminState {
                shared: shared.clone(),
                metrics: metrics.clone(),
                ready: ready.clone(),
            };
            threads.push(
                admin::spawn(admin_listener, state, stop.clone()).map_err(|source| {
                    GatewayError::Thread {
                        thread: "admin",
                        source,
                    }
                })?,
            );
        }
        let (ack, acks) = mpsc::channel();
        let mut handovers = Vec::new();
        for index in 0..started.workers {
            let thread_error = |source| GatewayError::Thread {
                thread: "worker",
                source,
            };
            let listeners = listeners
                .iter()
                .map(|l| l.try_clone())
                .collect::<Result<Vec<_>, _>>()
                .map_err(thread_error)?;
            let (handover, handovers_rx) = async_mpsc::unbounded_channel();
            handovers.push(handover);
            let setup = WorkerSetup {
                listeners,
                generation: generation.clone(),
                metrics: metrics.clone(),
                stop: stop.clone(),
                handovers: handovers_rx,
                ready: ack.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("wasmgate-worker-{index}"))
                .spawn(move || thread::run(setup))
                .map_err(thread_error)?;
            threads.push(handle);
        }
        drop(ack);
        let workers = handovers.len();
        let gateway = Gateway {
            addresses,
            admin_address,
            shutdown,
            control: Arc::new(Control::new(handovers, generation.clone())),
            threads,
            shared,
            metrics,
            started,
        };
        await_workers(&acks, workers, "while starting")?;
        ready.store(true, Ordering::SeqCst);
        tier_up::watch(&gateway.control, generation);
        Ok(gateway)
    }

    /// Checks and compiles a new configuration, then hands it to every worker: new requests
    /// use it, requests in flight finish on the old one. On error nothing changes.
    /// Listening addresses and the worker count are kept from the start: the answer lists
    /// those the new configuration changes, which take a restart, a message each.
    /// A listener list with other addresses keeps the running listeners, TLS settings
    /// included; with the same addresses, changed TLS settings take effect, and the clients
    /// of a changed listener are closed gracefully (GOAWAY) to reconnect to them.
    pub fn reload(&self, mut config: GatewayConfig) -> Result<Vec<String>, GatewayError> {
        let _one_at_a_time = self.control.lock.lock().unwrap_or_else(|p| p.into_inner());
        let kept = self
            .started
            .unchanged_by(&config, &self.addresses, self.admin_address);
        let current = self.control.current();
        if Started::of(&config).listen != self.started.listen {
            config.listeners = current.config.listeners.clone();
        }
        let running = current.plugins.clone();
        let generation = Arc::new(Generation::compile(config, &self.shared, &running)?);
        self.control.install(generation.clone())?;
        tier_up::watch(&self.control, generation);
        Ok(kept)
    }

    /// Each plugin's name and the compiler tier its VMs run (baseline right after a quick
    /// start, optimized once that code is cached; see [`wasmgate_host::RuntimeConfig`]).
    pub fn plugin_tiers(&self) -> Vec<(String, Tier)> {
        self.control
            .current()
            .plugins
            .iter()
            .map(|p| (p.spec.name.clone(), p.module.tier()))
            .collect()
    }

    /// The address of the first listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.addresses[0]
    }

    /// The addresses of all listeners, in configuration order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// The admin listener's address, if there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_address
    }

    /// Shared data, queues and the plugins' metrics.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The metrics in Prometheus text.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(&self.shared)
    }

    /// Stops accepting, lets requests in flight finish (at most the edge's drain timeout;
    /// HTTP/2 clients get GOAWAY), stops the workers and waits for them.
    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}
