//! The gateway's threads: N workers, each a current-thread tokio runtime that accepts on the
//! shared listening socket and owns one VM per plugin (a request stays on the worker that
//! accepted it, so the request path takes no lock), and their orderly shutdown.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use wasmgate_host::{HostError, NoCallouts, PluginVm, Shared};

use crate::callouts::{self, Clusters};
use crate::chain::{self, Connection, Worker};
use crate::config::GatewayConfig;
use crate::plugins::{self, LoadedPlugin};
use crate::slot::Slot;

/// Why a gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A plugin failed to load or start.
    #[error(transparent)]
    Plugin(#[from] HostError),
    /// The listening address is not available.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A worker thread could not start.
    #[error("cannot start a worker: {0}")]
    Worker(String),
}

/// A running gateway.
pub struct Gateway {
    address: SocketAddr,
    shutdown: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    shared: Shared,
}

impl Gateway {
    /// Loads the plugins, checks that each starts with its configuration, binds the
    /// listener and starts the workers. Returns once every worker serves.
    pub fn start(config: GatewayConfig) -> Result<Gateway, GatewayError> {
        let shared = Shared::default();
        let plugins = plugins::load_all(&config, &shared)?;
        for plugin in &plugins {
            PluginVm::new(
                &plugin.module,
                plugin.vm_config.clone(),
                Box::new(NoCallouts),
            )?;
        }
        let listener =
            std::net::TcpListener::bind(config.listen).map_err(|source| GatewayError::Bind {
                address: config.listen,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| GatewayError::Bind {
            address: config.listen,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| GatewayError::Worker(e.to_string()))?;
        let clusters = Arc::new(Clusters::new(config.clusters.clone()));
        let config = Arc::new(config);
        let (shutdown, stop) = watch::channel(false);
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut workers = Vec::new();
        for index in 0..config.workers.max(1) {
            let listener = listener
                .try_clone()
                .map_err(|e| GatewayError::Worker(e.to_string()))?;
            let setup = WorkerSetup {
                config: config.clone(),
                plugins: plugins.clone(),
                clusters: clusters.clone(),
                stop: stop.clone(),
                ready: ready_tx.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("wasmgate-worker-{index}"))
                .spawn(move || run_worker(listener, setup))
                .map_err(|e| GatewayError::Worker(e.to_string()))?;
            workers.push(handle);
        }
        drop(ready_tx);
        for _ in 0..workers.len() {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    let _ = shutdown.send(true);
                    return Err(GatewayError::Worker(message));
                }
                Err(_) => {
                    return Err(GatewayError::Worker(
                        "a worker stopped while starting".into(),
                    ))
                }
            }
        }
        Ok(Gateway {
            address,
            shutdown,
            workers,
            shared,
        })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Shared data, queues and the plugins' metrics.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Stops accepting, stops the workers and waits for them.
    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for worker in self.workers {
            let _ = worker.join();
        }
    }
}

struct WorkerSetup {
    config: Arc<GatewayConfig>,
    plugins: Vec<Arc<LoadedPlugin>>,
    clusters: Arc<Clusters>,
    stop: watch::Receiver<bool>,
    ready: mpsc::Sender<Result<(), String>>,
}

fn run_worker(listener: std::net::TcpListener, setup: WorkerSetup) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = setup.ready.send(Err(e.to_string()));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, serve(listener, setup));
}

async fn serve(listener: std::net::TcpListener, mut setup: WorkerSetup) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            let _ = setup.ready.send(Err(e.to_string()));
            return;
        }
    };
    let client = callouts::client();
    let mut slots = Vec::new();
    for plugin in &setup.plugins {
        match Slot::start(plugin.clone(), setup.clusters.clone(), client.clone()) {
            Ok(slot) => slots.push(slot),
            Err(e) => {
                let _ = setup.ready.send(Err(e.to_string()));
                return;
            }
        }
    }
    let worker = Rc::new(Worker {
        slots,
        client,
        config: setup.config.clone(),
    });
    let _ = setup.ready.send(Ok(()));
    static CONNECTIONS: AtomicU64 = AtomicU64::new(1);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = Connection {
                        id: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
                        remote,
                        local: stream.local_addr().unwrap_or(remote),
                    };
                    let worker = worker.clone();
                    tokio::task::spawn_local(async move {
                        let service = service_fn(move |request| {
                            let worker = worker.clone();
                            async move { Ok::<_, std::convert::Infallible>(chain::handle(worker, request, connection).await) }
                        });
                        if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                            tracing::debug!("connection from {remote}: {e}");
                        }
                    });
                }
                Err(e) => tracing::warn!("accept failed: {e}"),
            },
            _ = setup.stop.changed() => break,
        }
    }
}
