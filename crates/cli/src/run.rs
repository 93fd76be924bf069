//! `wasmgate run` and `wasmgate echo`: start the gateway (or the echo service), print where
//! it listens, and stop cleanly on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::{ArgMatches, Args};
use wasmgate_host::abi::LogLevel;
use wasmgate_host::RuntimeConfig;
use wasmgate_proxy::EchoServer;
use wasmgate_proxy::{
    CertificateSpec, ClusterSpec, Gateway, GatewayConfig, ListenerSpec, ListenerTls,
    UpstreamProtocol,
};

use crate::plugin_args::plugin_chain;

/// Arguments of `wasmgate run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// A gateway configuration file (wasmgate.yaml): listeners, clusters, routes, plugins.
    /// It is reloaded on SIGHUP and when it or a plugin file changes.
    #[arg(short = 'c', long = "config-file", value_name = "YAML", conflicts_with_all = ["plugin", "name", "upstream"])]
    config_file: Option<PathBuf>,
    /// A plugin .wasm; repeat for a chain, in request order.
    #[arg(long = "plugin", id = "plugin", value_name = "WASM")]
    plugin: Vec<PathBuf>,
    /// The name of the --plugin before it, in its log lines and its `plugin_name` property
    /// (default: the file's name; the directory's for a main.wasm or plugin.wasm, NAME for
    /// Higress's NAME/VERSION/plugin.wasm).
    #[arg(long = "name", id = "name", value_name = "NAME")]
    name: Vec<String>,
    /// The configuration (YAML or JSON file) of the --plugin before it.
    #[arg(long = "config", id = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
    /// The configuration, inline, of the --plugin before it.
    #[arg(long = "config-json", id = "config_json", value_name = "JSON")]
    config_json: Vec<String>,
    /// Where requests go: http://HOST:PORT, https://HOST[:PORT] (TLS, checked against the
    /// public roots; the upstream gets its own host as Host), or `echo` for a built-in echo
    /// service.
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:10000")]
    listen: SocketAddr,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with this PEM certificate chain.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A cluster plugins may call: NAME=HOST:PORT, or NAME=https://HOST:PORT for TLS,
    /// NAME=h2c://HOST:PORT or NAME=h2://HOST:PORT for HTTP/2 (cleartext, TLS) (e.g.
    /// 'outbound|8080||auth.dns=127.0.0.1:8080').
    #[arg(long = "cluster", value_name = "NAME=HOST:PORT")]
    clusters: Vec<String>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// What plugins see as route_name.
    #[arg(long, default_value = "default")]
    route_name: String,
    /// What plugins see as cluster_name.
    #[arg(long, default_value = "upstream")]
    cluster_name: String,
    /// The plugins' log level: trace, debug, info, warn, error, critical.
    #[arg(long, default_value = "info")]
    log_level: LogLevel,
    /// Pass a request on without a plugin that crashed (or is being rebuilt), instead of
    /// answering 503.
    #[arg(long)]
    fail_open: bool,
    /// Memory limit of each plugin VM, in MiB.
    #[arg(long, default_value_t = 256)]
    memory_limit_mb: usize,
    /// Time limit of one plugin callback, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    call_timeout_ms: u64,
    /// Do not cache compiled plugins on disk.
    #[arg(long)]
    no_cache: bool,
    /// Rebuild plugin projects given as --plugin DIR when their sources change, and reload
    /// plugins when their .wasm changes.
    #[arg(long)]
    watch: bool,
}

/// Arguments of `wasmgate echo`.
#[derive(Args, Debug)]
pub struct EchoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

fn init_logging(level: LogLevel) {
    let plugin_level = match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error | LogLevel::Critical => "error",
    };
    let filter =
        std::env::var("WASMGATE_LOG").unwrap_or_else(|_| format!("info,plugin={plugin_level}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// `wasmgate run`.
pub fn run(args: RunArgs, matches: &ArgMatches) -> Result<()> {
    init_logging(args.log_level);
    let (config, _echo, upstream, reloader) = match &args.config_file {
        Some(file) => {
            let config = load_file(file)?;
            let watched = watched_files(
                std::iter::once(file.clone()).chain(config.plugins.iter().map(|p| p.wasm.clone())),
            );
            (
                config,
                None,
                "routes of the file".to_string(),
                Reloader::File {
                    file: file.clone(),
                    watched,
                },
            )
        }
        None => {
            let (mut config, echo, upstream) = flags_config(&args, matches)?;
            let projects = build_projects(&mut config)?;
            let reloader = if args.watch {
                let wasm = watched_files(config.plugins.iter().map(|p| p.wasm.clone()));
                Reloader::Flags {
                    config: Box::new(config.clone()),
                    projects,
                    wasm,
                }
            } else {
                Reloader::None
            };
            (config, echo, upstream, reloader)
        }
    };
    let names: Vec<String> = config.plugins.iter().map(|p| p.name.clone()).collect();
    let scheme = match config.listeners.first().and_then(|l| l.tls.as_ref()) {
        Some(_) => "https",
        None => "http",
    };
    let signals = Signals::register()?;
    let gateway = Gateway::start(config)?;
    println!(
        "wasmgate listening on {scheme}://{} -> {} (plugins: {})",
        gateway.local_addr(),
        upstream,
        names.join(", ")
    );
    if let Some(admin) = gateway.admin_addr() {
        println!("admin on http://{admin} (/metrics, /healthz, /ready)");
    }
    match scheme {
        "https" => println!(
            "try: curl -ik --http2 https://{}/anything",
            gateway.local_addr()
        ),
        _ => println!("try: curl -i http://{}/anything", gateway.local_addr()),
    }
    serve_until_stopped(&gateway, signals, reloader);
    gateway.shutdown();
    println!("wasmgate stopped");
    Ok(())
}

/// A plugin project given as `--plugin DIR`, built to `DIR/main.wasm`.
struct Project {
    dir: PathBuf,
    sources: Watched,
}

type Watched = Vec<(PathBuf, Option<SystemTime>)>;

/// What makes the gateway reload.
enum Reloader {
    /// Nothing (flags without --watch): only Ctrl-C and SIGTERM matter.
    None,
    /// The configuration file and its plugins.
    File { file: PathBuf, watched: Watched },
    /// `--watch`: plugin projects are rebuilt and the plugins reloaded.
    Flags {
        config: Box<GatewayConfig>,
        projects: Vec<Project>,
        wasm: Watched,
    },
}

/// Builds the plugins given as project directories and points them at their `main.wasm`.
fn build_projects(config: &mut GatewayConfig) -> Result<Vec<Project>> {
    let mut projects = Vec::new();
    for plugin in &mut config.plugins {
        if plugin.wasm.is_dir() {
            let dir = plugin.wasm.clone();
            let output = dir.join("main.wasm");
            crate::build::build_project(&dir, &output)?;
            plugin.wasm = output;
            let sources = watched_files(crate::build::project_sources(&dir));
            projects.push(Project { dir, sources });
        }
    }
    Ok(projects)
}

/// The configuration `--plugin … --upstream …` describe.
fn flags_config(
    args: &RunArgs,
    matches: &ArgMatches,
) -> Result<(GatewayConfig, Option<EchoServer>, String)> {
    let Some(upstream_arg) = &args.upstream else {
        bail!("give --upstream URL (or echo) with --plugin, or a configuration file with -c wasmgate.yaml");
    };
    let plugins = plugin_chain(matches, args.fail_open)?;
    if plugins.is_empty() {
        bail!("give at least one --plugin WASM, or a configuration file with -c wasmgate.yaml");
    }
    let (upstream, echo) = upstream(upstream_arg)?;
    let tls = upstream.scheme_str() == Some("https");
    let authority = upstream.authority().context("--upstream needs a host")?;
    let address = match authority.port_u16() {
        Some(_) => authority.to_string(),
        None => format!("{}:443", authority.host()),
    };
    let mut config = GatewayConfig::single_upstream(&address, &args.route_name, &args.cluster_name);
    if tls {
        // A service behind TLS is someone's server by name: it gets its own host.
        config.clusters[0].tls = true;
        config.routes[0].host_rewrite = Some(authority.to_string());
    }
    config.listeners = vec![ListenerSpec {
        address: args.listen,
        tls: listener_tls(args),
    }];
    config.plugins = plugins;
    config.clusters.extend(clusters(&args.clusters)?);
    if let Some(workers) = args.workers {
        config.workers = workers.max(1);
    }
    config.log_level = args.log_level;
    config.limits.memory = args.memory_limit_mb << 20;
    config.limits.call_timeout = Duration::from_millis(args.call_timeout_ms);
    config.runtime = RuntimeConfig::from_env();
    if args.no_cache {
        config.runtime.cache_dir = None;
    }
    Ok((config, echo, upstream.to_string()))
}

/// The TLS of `--tls-cert`/`--tls-key`, if given.
fn listener_tls(args: &RunArgs) -> Option<ListenerTls> {
    let (cert, key) = (args.tls_cert.clone()?, args.tls_key.clone()?);
    Some(ListenerTls {
        certificates: vec![CertificateSpec { cert, key }],
        client_ca: None,
        require_client_certificate: false,
    })
}

/// A `wasmgate.yaml`, its plugins compiled as the environment asks (the cache, the quick
/// start).
fn load_file(file: &Path) -> Result<GatewayConfig> {
    let mut config = wasmgate_proxy::load_config(file)?;
    config.runtime = RuntimeConfig::from_env();
    Ok(config)
}

/// Files with their modification times.
fn watched_files(paths: impl IntoIterator<Item = PathBuf>) -> Watched {
    paths
        .into_iter()
        .map(|path| {
            let modified = modified(&path);
            (path, modified)
        })
        .collect()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The process's stop and reload signals, registered before the gateway says it listens,
/// so a Ctrl-C that follows at once is never missed.
pub struct Signals {
    runtime: tokio::runtime::Runtime,
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Registers SIGINT, SIGTERM and SIGHUP.
    pub fn register() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let _context = runtime.enter();
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
            runtime,
        })
    }

    /// Waits for Ctrl-C or SIGTERM.
    pub fn wait_for_stop(mut self) {
        self.runtime.block_on(async {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        });
    }
}

/// Serves until Ctrl-C or SIGTERM; reloads on SIGHUP and when a watched file changes.
fn serve_until_stopped(gateway: &Gateway, signals: Signals, mut reloader: Reloader) {
    let Signals {
        runtime,
        mut interrupt,
        mut terminate,
        mut hangup,
    } = signals;
    runtime.block_on(async {
        let mut poll = tokio::time::interval(Duration::from_secs(1));
        loop {
            let forced = tokio::select! {
                _ = interrupt.recv() => return,
                _ = terminate.recv() => return,
                _ = hangup.recv() => true,
                _ = poll.tick() => false,
            };
            reloader.check(gateway, forced);
        }
    })
}

impl Reloader {
    /// Reloads when something changed (or when `forced`, on SIGHUP).
    fn check(&mut self, gateway: &Gateway, forced: bool) {
        match self {
            Reloader::None => {}
            Reloader::File { file, watched } => {
                if changed(watched) || forced {
                    reload_from(gateway, file, watched);
                }
            }
            Reloader::Flags {
                config,
                projects,
                wasm,
            } => {
                let mut reload = forced;
                for project in projects.iter_mut() {
                    if changed(&mut project.sources) {
                        println!("{} changed: rebuilding", project.dir.display());
                        match crate::build::build_project(
                            &project.dir,
                            &project.dir.join("main.wasm"),
                        ) {
                            Ok(()) => reload = true,
                            Err(e) => tracing::error!(
                                "rebuild of {} failed, still serving the previous build: {e:#}",
                                project.dir.display()
                            ),
                        }
                        project.sources =
                            watched_files(crate::build::project_sources(&project.dir));
                    }
                }
                reload |= changed(wasm);
                if reload {
                    match gateway.reload(GatewayConfig::clone(config)) {
                        Ok(_) => println!("reloaded the plugins"),
                        Err(e) => tracing::error!(
                            "reload refused, still serving the previous plugins: {e}"
                        ),
                    }
                    changed(wasm);
                }
            }
        }
    }
}

/// Whether a watched file changed since the last look (and remembers the new times).
fn changed(watched: &mut [(PathBuf, Option<SystemTime>)]) -> bool {
    let mut any = false;
    for (path, seen) in watched.iter_mut() {
        let now = modified(path);
        if now != *seen {
            *seen = now;
            any = true;
        }
    }
    any
}

fn reload_from(gateway: &Gateway, file: &Path, watched: &mut Vec<(PathBuf, Option<SystemTime>)>) {
    let loaded = load_file(file);
    let result = loaded.and_then(|config| {
        let files = watched_files(
            std::iter::once(file.to_path_buf())
                .chain(config.plugins.iter().map(|p| p.wasm.clone())),
        );
        let kept = gateway.reload(config)?;
        Ok((files, kept))
    });
    match result {
        Ok((files, kept)) => {
            *watched = files;
            tracing::info!("reloaded {}", file.display());
            for setting in kept {
                tracing::warn!("{}: {setting}", file.display());
            }
        }
        Err(e) => tracing::error!(
            "reload of {} refused, still serving the previous configuration: {}",
            file.display(),
            crate::one_line(&e)
        ),
    }
}

/// `wasmgate echo`.
pub fn echo(args: EchoArgs) -> Result<()> {
    let signals = Signals::register()?;
    let server = EchoServer::start(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("echo listening on http://{}", server.local_addr());
    signals.wait_for_stop();
    Ok(())
}

fn upstream(text: &str) -> Result<(http::Uri, Option<EchoServer>)> {
    if text == "echo" {
        let server = EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .context("cannot start the echo upstream")?;
        let uri = format!("http://{}", server.local_addr()).parse()?;
        return Ok((uri, Some(server)));
    }
    let uri: http::Uri = text.parse().with_context(|| {
        format!("--upstream {text:?} is not a URL; use http://HOST:PORT, https://HOST or echo")
    })?;
    let port_given = uri.port_u16().is_some();
    match uri.scheme_str() {
        Some("http") if port_given => {}
        Some("https") if uri.host().is_some() => {}
        _ => bail!("--upstream {text:?} must be http://HOST:PORT, https://HOST[:PORT] (or echo)"),
    }
    Ok((uri, None))
}

fn clusters(entries: &[String]) -> Result<Vec<ClusterSpec>> {
    entries
        .iter()
        .map(|entry| {
            let (name, address) = entry
                .rsplit_once('=')
                .with_context(|| format!("--cluster {entry:?} must be NAME=HOST:PORT"))?;
            // h2c:// and h2:// (TLS) are HTTP/2 clusters.
            let (address, tls, protocol) = [
                ("https://", true, UpstreamProtocol::Http1),
                ("h2://", true, UpstreamProtocol::Http2),
                ("h2c://", false, UpstreamProtocol::Http2),
            ]
            .into_iter()
            .find_map(|(scheme, tls, protocol)| {
                address
                    .strip_prefix(scheme)
                    .map(|rest| (rest, tls, protocol))
            })
            .unwrap_or((address, false, UpstreamProtocol::Http1));
            if !address.contains(':') {
                bail!("--cluster {entry:?}: the address needs a port (HOST:PORT)");
            }
            Ok(ClusterSpec {
                name: name.to_string(),
                endpoints: vec![address.to_string()],
                tls,
                protocol,
                ..ClusterSpec::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_flags_name_tls_and_http2() {
        let entries = [
            "a=127.0.0.1:80",
            "b=https://api.test:443",
            "c=h2c://127.0.0.1:50051",
            "d=h2://grpc.test:443",
        ]
        .map(str::to_string);
        let parsed = clusters(&entries).expect("parsed");
        let seen: Vec<(&str, &str, bool, UpstreamProtocol)> = parsed
            .iter()
            .map(|c| (c.name.as_str(), c.endpoints[0].as_str(), c.tls, c.protocol))
            .collect();
        assert_eq!(
            seen,
            [
                ("a", "127.0.0.1:80", false, UpstreamProtocol::Http1),
                ("b", "api.test:443", true, UpstreamProtocol::Http1),
                ("c", "127.0.0.1:50051", false, UpstreamProtocol::Http2),
                ("d", "grpc.test:443", true, UpstreamProtocol::Http2),
            ]
        );
        assert!(clusters(&["e=h2c://nohost".to_string()]).is_err());
    }
}
