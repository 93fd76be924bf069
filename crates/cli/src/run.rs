//! `wasmgate run` and `wasmgate echo`: start the gateway (or the echo service), print where
//! it listens, and stop cleanly on Ctrl-C or SIGTERM.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{ArgMatches, Args};
use wasmgate_host::abi::LogLevel;
use wasmgate_proxy::echo::EchoServer;
use wasmgate_proxy::{Gateway, GatewayConfig};

use crate::plugin_args::plugin_chain;

/// Arguments of `wasmgate run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// A plugin .wasm; repeat for a chain, in request order.
    #[arg(long = "plugin", id = "plugin", value_name = "WASM", required = true)]
    plugin: Vec<PathBuf>,
    /// The configuration (YAML or JSON file) of the --plugin before it.
    #[arg(long = "config", id = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
    /// The configuration, inline, of the --plugin before it.
    #[arg(long = "config-json", id = "config_json", value_name = "JSON")]
    config_json: Vec<String>,
    /// Where requests go: http://HOST:PORT, or `echo` for a built-in echo service.
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:10000")]
    listen: SocketAddr,
    /// A cluster plugins may call: NAME=HOST:PORT (e.g. 'outbound|8080||auth.dns=127.0.0.1:8080').
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
    #[arg(long, default_value = "info", value_parser = parse_level)]
    log_level: LogLevel,
    /// Pass a request on when a plugin crashes, instead of answering 500.
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
}

/// Arguments of `wasmgate echo`.
#[derive(Args, Debug)]
pub struct EchoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

fn parse_level(text: &str) -> Result<LogLevel, String> {
    [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
        LogLevel::Critical,
    ]
    .into_iter()
    .find(|l| l.name() == text.to_ascii_lowercase())
    .ok_or_else(|| {
        format!("unknown level {text:?}: use trace, debug, info, warn, error or critical")
    })
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
        .try_init();
}

/// `wasmgate run`.
pub fn run(args: RunArgs, matches: &ArgMatches) -> Result<()> {
    init_logging(args.log_level);
    let plugins = plugin_chain(matches, args.fail_open)?;
    let (upstream, _echo) = upstream(&args.upstream)?;
    let mut config = GatewayConfig::new(upstream.clone());
    config.listen = args.listen;
    config.plugins = plugins;
    config.clusters = clusters(&args.clusters)?;
    if let Some(workers) = args.workers {
        config.workers = workers.max(1);
    }
    config.route_name = args.route_name;
    config.cluster_name = args.cluster_name;
    config.log_level = args.log_level;
    config.limits.memory = args.memory_limit_mb << 20;
    config.limits.call_timeout = Duration::from_millis(args.call_timeout_ms);
    if args.no_cache {
        config.cache_dir = None;
    }
    let names: Vec<String> = config.plugins.iter().map(|p| p.name.clone()).collect();
    let gateway = Gateway::start(config)?;
    println!(
        "wasmgate listening on http://{} -> {} (plugins: {})",
        gateway.local_addr(),
        upstream,
        names.join(", ")
    );
    println!("try: curl -i http://{}/anything", gateway.local_addr());
    wait_for_stop()?;
    gateway.shutdown();
    println!("wasmgate stopped");
    Ok(())
}

/// `wasmgate echo`.
pub fn echo(args: EchoArgs) -> Result<()> {
    let server = EchoServer::start(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("echo listening on http://{}", server.local_addr());
    wait_for_stop()
}

fn upstream(text: &str) -> Result<(http::Uri, Option<EchoServer>)> {
    if text == "echo" {
        let server = EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0)))
            .context("cannot start the echo upstream")?;
        let uri = format!("http://{}", server.local_addr()).parse()?;
        return Ok((uri, Some(server)));
    }
    let uri: http::Uri = text.parse().with_context(|| {
        format!("--upstream {text:?} is not a URL; use http://HOST:PORT or echo")
    })?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        bail!("--upstream {text:?} must be http://HOST:PORT (or echo)");
    }
    Ok((uri, None))
}

fn clusters(entries: &[String]) -> Result<HashMap<String, String>> {
    entries
        .iter()
        .map(|entry| {
            let (name, address) = entry
                .rsplit_once('=')
                .with_context(|| format!("--cluster {entry:?} must be NAME=HOST:PORT"))?;
            if !address.contains(':') {
                bail!("--cluster {entry:?}: the address needs a port (HOST:PORT)");
            }
            Ok((name.to_string(), address.to_string()))
        })
        .collect()
}

fn wait_for_stop() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                result = tokio::signal::ctrl_c() => result?,
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        Ok::<_, std::io::Error>(())
    })?;
    Ok(())
}
