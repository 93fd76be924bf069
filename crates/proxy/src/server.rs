//! The gateway's threads: N workers, each a current-thread tokio runtime that accepts on the
//! shared listening socket and owns one VM per plugin (a request stays on the worker that
//! accepted it, so the request path takes no lock); the admin listener; reloads (a new
//! configuration generation is built beside the old one, new requests use it, requests in
//! flight finish on the old one); and the orderly shutdown.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc as async_mpsc, watch};
use wasmgate_host::abi::Status;
use wasmgate_host::{
    CalloutHandler, HostError, HttpCallout, PluginVm, RedisCallout, RedisInit, Shared, Tier,
};

use crate::admin;
use crate::callouts::{self, Clusters};
use crate::chain::{self, Connection, Worker};
use crate::config::GatewayConfig;
use crate::metrics::GatewayMetrics;
use crate::plugins::{self, LoadedPlugin};
use crate::slot::Slot;
use crate::tier_up;

/// Why a gateway did not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A plugin failed to load or start.
    #[error(transparent)]
    Plugin(#[from] HostError),
    /// A listening address is not available.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A worker thread could not start or take the new configuration.
    #[error("worker: {0}")]
    Worker(String),
    /// The trusted roots for TLS upstreams could not be set up (a bad `ca_file`).
    #[error("TLS: {0}")]
    Tls(String),
}

/// A configuration generation, compiled and checked, on its way to the workers.
pub(crate) struct Generation {
    pub(crate) config: Arc<GatewayConfig>,
    pub(crate) plugins: Vec<Arc<LoadedPlugin>>,
    pub(crate) clusters: Arc<Clusters>,
    /// What TLS upstreams and callouts trust.
    pub(crate) tls: Arc<rustls::ClientConfig>,
}

type Ack = mpsc::Sender<Result<(), String>>;

/// How generations reach the workers: their channels, the generation they serve, and the
/// lock that takes changes one at a time (reloads, and the move to optimized code).
pub(crate) struct Control {
    reloads: Vec<async_mpsc::UnboundedSender<(Arc<Generation>, Ack)>>,
    current: Mutex<Arc<Generation>>,
    pub(crate) lock: Mutex<()>,
}

impl Control {
    /// The generation the workers serve.
    pub(crate) fn current(&self) -> Arc<Generation> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Hands `generation` to every worker and waits until each serves it. The caller holds
    /// `lock`.
    pub(crate) fn install(&self, generation: Arc<Generation>) -> Result<(), GatewayError> {
        let (ack, acks) = mpsc::channel();
        for worker in &self.reloads {
            worker
                .send((generation.clone(), ack.clone()))
                .map_err(|_| GatewayError::Worker("a worker has stopped".into()))?;
        }
        drop(ack);
        await_workers(&acks, self.reloads.len(), "during the reload")?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = generation;
        Ok(())
    }
}

/// A running gateway.
pub struct Gateway {
    address: SocketAddr,
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
#[derive(Clone, Copy, PartialEq)]
struct Started {
    listen: SocketAddr,
    admin: Option<SocketAddr>,
    workers: usize,
}

impl Started {
    fn of(config: &GatewayConfig) -> Started {
        Started {
            listen: config.listen,
            admin: config.admin,
            workers: config.workers.max(1),
        }
    }

    /// What `config` asks of these settings in vain, a message each; `listening` and
    /// `admin_listening` are the addresses bound at the start.
    fn unchanged_by(
        &self,
        config: &GatewayConfig,
        listening: SocketAddr,
        admin_listening: Option<SocketAddr>,
    ) -> Vec<String> {
        let asked = Started::of(config);
        let mut kept = Vec::new();
        if asked.listen != self.listen {
            kept.push(format!(
                "listen: {} takes a restart; still listening on {}",
                asked.listen, listening
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
        let generation = Arc::new(compile(config, &shared, &[])?);
        let config = generation.config.clone();
        let started = Started::of(&config);
        let listener = bind(config.listen)?;
        let address = local_addr(&listener, config.listen)?;
        let (shutdown, stop) = watch::channel(false);
        let ready = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut admin_address = None;
        if let Some(admin_listen) = config.admin {
            let admin_listener = bind(admin_listen)?;
            admin_address = Some(local_addr(&admin_listener, admin_listen)?);
            let state = admin::AdminState {
                shared: shared.clone(),
                metrics: metrics.clone(),
                ready: ready.clone(),
            };
            threads.push(
                admin::spawn(admin_listener, state, stop.clone())
                    .map_err(|e| GatewayError::Worker(e.to_string()))?,
            );
        }
        let (ack, acks) = mpsc::channel();
        let mut reloads = Vec::new();
        for index in 0..config.workers.max(1) {
            let listener = listener
                .try_clone()
                .map_err(|e| GatewayError::Worker(e.to_string()))?;
            let (reload_tx, reload_rx) = async_mpsc::unbounded_channel();
            reloads.push(reload_tx);
            let setup = WorkerSetup {
                generation: generation.clone(),
                metrics: metrics.clone(),
                stop: stop.clone(),
                reloads: reload_rx,
                ready: ack.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("wasmgate-worker-{index}"))
                .spawn(move || run_worker(listener, setup))
                .map_err(|e| GatewayError::Worker(e.to_string()))?;
            threads.push(handle);
        }
        drop(ack);
        let workers = reloads.len();
        let gateway = Gateway {
            address,
            admin_address,
            shutdown,
            control: Arc::new(Control {
                reloads,
                current: Mutex::new(generation.clone()),
                lock: Mutex::new(()),
            }),
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
    pub fn reload(&self, config: GatewayConfig) -> Result<Vec<String>, GatewayError> {
        let _one_at_a_time = self.control.lock.lock().unwrap_or_else(|p| p.into_inner());
        let kept = self
            .started
            .unchanged_by(&config, self.address, self.admin_address);
        let running = self.control.current().plugins.clone();
        let generation = Arc::new(compile(config, &self.shared, &running)?);
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

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
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

    /// Stops accepting, stops the workers and waits for them.
    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// Waits for `workers` answers: each worker took the generation, or says why not.
fn await_workers(
    acks: &mpsc::Receiver<Result<(), String>>,
    workers: usize,
    when: &str,
) -> Result<(), GatewayError> {
    for _ in 0..workers {
        match acks.recv() {
            Ok(Ok(())) => {}
            Ok(Err(message)) => return Err(GatewayError::Worker(message)),
            Err(_) => return Err(GatewayError::Worker(format!("a worker stopped {when}"))),
        }
    }
    Ok(())
}

fn bind(address: SocketAddr) -> Result<std::net::TcpListener, GatewayError> {
    let listener = std::net::TcpListener::bind(address)
        .map_err(|source| GatewayError::Bind { address, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| GatewayError::Bind { address, source })?;
    Ok(listener)
}

fn local_addr(
    listener: &std::net::TcpListener,
    address: SocketAddr,
) -> Result<SocketAddr, GatewayError> {
    listener
        .local_addr()
        .map_err(|source| GatewayError::Bind { address, source })
}

/// Compiles the plugins and starts each once with its configuration, so a bad plugin or
/// configuration is refused before any worker sees it. The check VM gets shared data of its
/// own (a lease or counter it takes must not hold the real VMs back) and a callout handler
/// that knows the clusters (a Redis init at start succeeds as it will on the workers) but
/// sends nothing.
fn compile(
    config: GatewayConfig,
    shared: &Shared,
    running: &[Arc<LoadedPlugin>],
) -> Result<Generation, GatewayError> {
    let plugins = plugins::load_all(&config, shared, running)?;
    let clusters = Arc::new(Clusters::new(&config.clusters));
    for plugin in &plugins {
        let mut check = plugin.vm_config.clone();
        check.shared = Shared::default();
        PluginVm::new(
            &plugin.module,
            check,
            Box::new(CheckCallouts(clusters.clone())),
        )?;
    }
    let tls = crate::tls::client_config(&config.clusters).map_err(GatewayError::Tls)?;
    Ok(Generation {
        clusters,
        config: Arc::new(config),
        plugins,
        tls,
    })
}

/// The callout handler of the start-up check: known clusters accept, nothing is sent.
struct CheckCallouts(Arc<Clusters>);

impl CheckCallouts {
    fn known(&self, cluster: &str) -> Result<(), Status> {
        self.0.resolve(cluster).map(drop).ok_or(Status::BadArgument)
    }
}

impl CalloutHandler for CheckCallouts {
    fn http_call(&mut self, call: HttpCallout) -> Result<(), Status> {
        self.known(&call.upstream)
    }

    fn redis_init(&mut self, init: RedisInit) -> Status {
        match self.known(&init.upstream) {
            Ok(()) => Status::Ok,
            Err(status) => status,
        }
    }

    fn redis_call(&mut self, call: RedisCallout) -> Result<(), Status> {
        self.known(&call.upstream)
    }
}

struct WorkerSetup {
    generation: Arc<Generation>,
    metrics: Arc<GatewayMetrics>,
    stop: watch::Receiver<bool>,
    reloads: async_mpsc::UnboundedReceiver<(Arc<Generation>, Ack)>,
    ready: Ack,
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

/// Builds this worker's VMs for a generation.
fn build_worker(
    generation: &Generation,
    metrics: &Arc<GatewayMetrics>,
) -> Result<Rc<Worker>, String> {
    let client = callouts::client(&generation.tls);
    let mut slots = Vec::new();
    for plugin in &generation.plugins {
        slots.push(
            Slot::start(plugin.clone(), generation.clusters.clone(), client.clone())
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(Rc::new(Worker {
        slots,
        client: client.clone(),
        config: generation.config.clone(),
        clusters: generation.clusters.clone(),
        metrics: metrics.clone(),
    }))
}

/// The next connection. An accept error (out of file descriptors, say) is logged and
/// waited out for 100 ms, so that connections can close, instead of spinning on it.
pub(crate) async fn accept(
    listener: &tokio::net::TcpListener,
) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!("accept failed, pausing 100 ms: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve(listener: std::net::TcpListener, mut setup: WorkerSetup) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            let _ = setup.ready.send(Err(e.to_string()));
            return;
        }
    };
    let current = match build_worker(&setup.generation, &setup.metrics) {
        Ok(worker) => Rc::new(RefCell::new(worker)),
        Err(e) => {
            let _ = setup.ready.send(Err(e));
            return;
        }
    };
    let _ = setup.ready.send(Ok(()));
    static CONNECTIONS: AtomicU64 = AtomicU64::new(1);
    loop {
        tokio::select! {
            (stream, remote) = accept(&listener) => {
                let _ = stream.set_nodelay(true);
                let connection = Connection {
                    id: CONNECTIONS.fetch_add(1, Ordering::Relaxed),
                    remote,
                    local: stream.local_addr().unwrap_or(remote),
                };
                let current = current.clone();
                tokio::task::spawn_local(async move {
                    let service = service_fn(move |request| {
                        // Each request takes the generation current when it arrives.
                        let worker = current.borrow().clone();
                        async move { Ok::<_, std::convert::Infallible>(chain::handle(worker, request, connection).await) }
                    });
                    if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                        tracing::debug!("connection from {remote}: {e}");
                    }
                });
            },
            Some((generation, ack)) = setup.reloads.recv() => {
                match build_worker(&generation, &setup.metrics) {
                    Ok(worker) => {
                        *current.borrow_mut() = worker;
                        let _ = ack.send(Ok(()));
                    }
                    Err(e) => {
                        let _ = ack.send(Err(e));
                    }
                }
            },
            _ = setup.stop.changed() => break,
        }
    }
}
