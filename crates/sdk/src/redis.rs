//! The Redis client (a Higress extension): commands sent through the host's
//! `proxy_redis_call`, answered through a callback or awaited.
//!
//! ```no_run
//! # use wasmgate_sdk::prelude::*;
//! # fn parse(json: &Value) -> Result<RedisClient> {
//! let redis = RedisClient::new(FqdnCluster::new("redis.static", 6379));
//! redis.init("", "secret", 1000, RedisOptions::default().database(1))?;
//! # Ok(redis) }
//! # fn handler(ctx: &HttpContext, redis: &RedisClient) -> Result<HeaderAction> {
//! redis.incr("hits").send(ctx, |ctx, reply| {
//!     let hits = reply?.as_integer().unwrap_or(0);
//!     ctx.add_request_header("x-hits", hits.to_string())
//! })?;
//! # Ok(HeaderAction::Continue) }
//! ```
//!
//! As wasm-go: [`RedisClient::init`] calls `proxy_redis_init` with the cluster name plus
//! `?db=<n>` (only when n ≠ 0), `buffer_flush_timeout=<ms>` (default 3) and
//! `max_buffer_size_before_flush=<bytes>` (default 1024); commands go to the cluster name
//! without parameters, as RESP arrays of bulk strings (the command set is in
//! `redis_commands`); the reply is read from buffer 9. A
//! `NOAUTH` reply makes the client re-initialise and retry the command once.
//!
//! Unlike wasm-go, errors are not swallowed: `init` returns the host's refusal (an unknown
//! cluster is `BadArgument`); a command on a client that is not ready tries to initialise
//! again at most once per second and otherwise fails at once with "not ready" (wasm-go
//! re-initialises before every command, slowing every request, higress#3053). Failures are
//! distinct: [`Error::Redis`] for "not ready", "cannot connect" (a non-zero status) and
//! unreadable replies; [`Error::RedisReply`] for an error reply from the server.
//!
//! A request that sends a command stops at the phase that sent it until the callback has
//! run, then resumes (unless the callback replied locally), as with the HTTP client.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::IntoFuture;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmgate_abi::BufferType;

use crate::cluster::Cluster;
use crate::context::HttpContext;
use crate::error::{Error, Result};
use wasmgate_abi::resp::{self, RespValue};

use crate::outcome::IntoOutcome;
use crate::raw;
use crate::waiter::{CalloutFuture, Waiter};

/// How long a client that is not ready waits before trying `proxy_redis_init` again.
pub const REINIT_BACKOFF_MS: u64 = 1000;

/// Connection options of [`RedisClient::init`] (wasm-go's `WithDataBase`,
/// `WithBufferFlushTimeout`, `WithMaxBufferSizeBeforeFlush`, `WithDisableBuffer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// The database (`SELECT`); 0 is the default and is not sent.
    pub database: u32,
    /// How long the host may hold commands to batch them, in ms (default 3).
    pub buffer_flush_timeout_ms: u32,
    /// How many buffered bytes make the host flush at once (default 1024).
    pub max_buffer_size_before_flush: u32,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            database: 0,
            buffer_flush_timeout_ms: 3,
            max_buffer_size_before_flush: 1024,
        }
    }
}

impl RedisOptions {
    /// Selects a database.
    pub fn database(mut self, database: u32) -> Self {
        self.database = database;
        self
    }

    /// Sets the host's flush timeout.
    pub fn buffer_flush_timeout_ms(mut self, ms: u32) -> Self {
        self.buffer_flush_timeout_ms = ms;
        self
    }

    /// Sets the host's flush size.
    pub fn max_buffer_size_before_flush(mut self, bytes: u32) -> Self {
        self.max_buffer_size_before_flush = bytes;
        self
    }

    /// Sends each command at once (flush timeout and size 0).
    pub fn disable_buffer(mut self) -> Self {
        self.buffer_flush_timeout_ms = 0;
        self.max_buffer_size_before_flush = 0;
        self
    }

    /// The query string appended to the cluster name for `proxy_redis_init`.
    pub fn query(&self) -> String {
        let mut params = Vec::new();
        if self.database != 0 {
            params.push(format!("db={}", self.database));
        }
        params.push(format!(
            "buffer_flush_timeout={}",
            self.buffer_flush_timeout_ms
        ));
        params.push(format!(
            "max_buffer_size_before_flush={}",
            self.max_buffer_size_before_flush
        ));
        params.join("&")
    }
}

#[derive(Default)]
struct InitState {
    /// `init` was called (with these credentials).
    configured: bool,
    username: String,
    password: String,
    timeout_ms: u32,
    options: RedisOptions,
    ready: bool,
    last_error: Option<String>,
    last_attempt_ms: u64,
}

struct Inner {
    cluster: String,
    state: RefCell<InitState>,
}

/// A Redis client for one cluster. Cheap to clone (clones share the connection state).
#[derive(Clone)]
pub struct RedisClient {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClient")
            .field("cluster", &self.inner.cluster)
            .field("ready", &self.ready())
            .finish()
    }
}

fn now_ms() -> u64 {
    raw::get_current_time_nanos()
        .map(|n| n / 1_000_000)
        .unwrap_or(0)
}

impl RedisClient {
    /// A client for a cluster (`FqdnCluster::new("redis.static", 6379)` gives
    /// `outbound|6379||redis.static`). Call [`init`](Self::init) before sending commands.
    pub fn new(cluster: impl Cluster) -> Self {
        RedisClient {
            inner: Rc::new(Inner {
                cluster: cluster.cluster_name(),
                state: RefCell::new(InitState::default()),
            }),
        }
    }

    /// The cluster name commands are sent to.
    pub fn cluster_name(&self) -> &str {
        &self.inner.cluster
    }

    /// The `proxy_redis_init` upstream string: the cluster name and the options' query.
    pub fn upstream(&self) -> String {
        let query = self.inner.state.borrow().options.query();
        format!("{}?{query}", self.inner.cluster)
    }

    /// Sets up the connection pool (`proxy_redis_init`) with credentials (empty for none),
    /// a per-command timeout and options. An error says why the host refused (an unknown
    /// cluster is `BadArgument`); the client then stays not ready, and commands retry the
    /// initialisation at most once per second.
    pub fn init(
        &self,
        username: &str,
        password: &str,
        timeout_ms: u32,
        options: RedisOptions,
    ) -> Result<()> {
        {
            let mut s = self.inner.state.borrow_mut();
            s.configured = true;
            s.username = username.to_string();
            s.password = password.to_string();
            s.timeout_ms = timeout_ms;
            s.options = options;
        }
        self.reinit()
    }

    fn reinit(&self) -> Result<()> {
        let upstream = self.upstream();
        let (username, password, timeout_ms) = {
            let s = self.inner.state.borrow();
            (s.username.clone(), s.password.clone(), s.timeout_ms)
        };
        let result = raw::redis_init(&upstream, &username, &password, timeout_ms);
        let mut s = self.inner.state.borrow_mut();
        s.last_attempt_ms = now_ms();
        match result {
            Ok(()) => {
                s.ready = true;
                s.last_error = None;
                Ok(())
            }
            Err(e) => {
                s.ready = false;
                let why = format!("cannot init redis cluster {}: {e}", self.inner.cluster);
                s.last_error = Some(why.clone());
                Err(Error::Redis(why))
            }
        }
    }

    /// Whether the last initialisation succeeded.
    pub fn ready(&self) -> bool {
        self.inner.state.borrow().ready
    }

    /// Ready, or an error saying why not (trying `init` again after the back-off).
    fn ensure_ready(&self) -> Result<()> {
        let (configured, ready, last_attempt) = {
            let s = self.inner.state.borrow();
            (s.configured, s.ready, s.last_attempt_ms)
        };
        if ready {
            return Ok(());
        }
        if !configured {
            return Err(Error::Redis(format!(
                "redis client for {} is not ready: init was not called",
                self.inner.cluster
            )));
        }
        if now_ms().saturating_sub(last_attempt) >= REINIT_BACKOFF_MS && self.reinit().is_ok() {
            return Ok(());
        }
        let why = self.inner.state.borrow().last_error.clone();
        Err(Error::Redis(format!(
            "redis client for {} is not ready: {}",
            self.inner.cluster,
            why.unwrap_or_default()
        )))
    }

    /// The request of a command from its encoded arguments.
    pub(crate) fn build(&self, args: Vec<Vec<u8>>) -> RedisRequest {
        let name = args
            .first()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .unwrap_or_default();
        RedisRequest {
            client: self.clone(),
            name,
            query: resp::command(&args),
        }
    }
}

/// A command ready to send: [`send`](Self::send) it with a callback, or `.await` it.
#[must_use = "a command does nothing until it is sent or awaited"]
pub struct RedisRequest {
    client: RedisClient,
    name: String,
    query: Vec<u8>,
}

/// What a request's failed callback is called in the log.
const CALLBACK: &str = "redis callback";

/// A sent command: kept with its waiter to send it again after `NOAUTH`.
struct Pending {
    request: RedisRequest,
    retried: bool,
    waiter: Waiter<RespValue>,
}

thread_local! {
    static PENDING: RefCell<HashMap<u32, Pending>> = RefCell::new(HashMap::new());
}

/// Set when a command is first sent, so that plugins without Redis do not link the reply
/// path (a plain static that is never stored to lets the optimizer drop it).
static HANDLER: AtomicBool = AtomicBool::new(false);

/// `proxy_on_redis_call_response`, from the exports: handled only once a command was sent.
pub(crate) fn dispatch_response(token: u32, status: i32, size: usize) {
    if HANDLER.load(Ordering::Relaxed) {
        on_response(token, status, size);
    }
}

impl RedisRequest {
    /// The RESP bytes of the command.
    pub fn query(&self) -> &[u8] {
        &self.query
    }

    fn dispatch(&self) -> Result<u32> {
        self.client.ensure_ready()?;
        raw::redis_call(&self.client.inner.cluster, &self.query).map_err(|e| {
            Error::Redis(format!(
                "cannot send {} to {}: {e}",
                self.name, self.client.inner.cluster
            ))
        })
    }

    /// Sends the command for `ctx`; `callback` runs with the reply (an error reply is
    /// [`Error::RedisReply`]). The phase that sent it stops until the callback has run,
    /// then the request resumes unless the callback replied locally or resumed it. An
    /// error is returned here (and the callback not run) when the client is not ready or
    /// the host refuses the command.
    pub fn send<R: IntoOutcome<()>>(
        self,
        ctx: &HttpContext,
        callback: impl FnOnce(&HttpContext, Result<RespValue>) -> R + 'static,
    ) -> Result<u32> {
        ctx.enter()?;
        let token = self.dispatch()?;
        let waiter = Waiter::for_request(ctx, callback);
        self.park(token, false, waiter);
        Ok(token)
    }

    /// Sends the command on behalf of the plugin (from a tick, say), not of a request.
    pub fn send_detached(self, callback: impl FnOnce(Result<RespValue>) + 'static) -> Result<u32> {
        let token = self.dispatch()?;
        self.park(token, false, Waiter::for_plugin(callback));
        Ok(token)
    }

    fn park(self, token: u32, retried: bool, waiter: Waiter<RespValue>) {
        HANDLER.store(true, Ordering::Relaxed);
        PENDING.with(|p| {
            p.borrow_mut().insert(
                token,
                Pending {
                    request: self,
                    retried,
                    waiter,
                },
            )
        });
    }
}

impl IntoFuture for RedisRequest {
    type Output = Result<RespValue>;
    type IntoFuture = RedisFuture;

    /// Sends the command now; the future resolves with the reply.
    fn into_future(self) -> RedisFuture {
        let sent = self.dispatch();
        CalloutFuture::new(sent, |token, waiter| self.park(token, false, waiter))
    }
}

/// The reply to an awaited [`RedisRequest`].
pub type RedisFuture = CalloutFuture<RespValue>;

fn read_reply(cluster: &str, status: i32, size: usize) -> Result<RespValue> {
    if status != 0 {
        return Err(Error::Redis(format!(
            "cannot connect to redis cluster {cluster} (status {status})"
        )));
    }
    let bytes = raw::get_buffer(BufferType::RedisCallResponse, 0, size)
        .map_err(|e| Error::Redis(format!("cannot get redis response: {e}")))?
        .unwrap_or_default();
    resp::decode(&bytes).map_err(|e| Error::Redis(format!("cannot read redis response: {e}")))
}

/// Routes a reply to its callback or future.
fn on_response(token: u32, status: i32, size: usize) {
    let Some(pending) = PENDING.with(|p| p.borrow_mut().remove(&token)) else {
        return;
    };
    let cluster = pending.request.client.inner.cluster.clone();
    let reply = read_reply(&cluster, status, size);
    let noauth = matches!(&reply, Ok(RespValue::Error(m)) if m.starts_with("NOAUTH"));
    if noauth && !pending.retried {
        crate::warn!("redis cluster {cluster} answered NOAUTH; re-initialising and retrying once");
        let client = pending.request.client.clone();
        let retry = client.reinit().and_then(|()| pending.request.dispatch());
        match retry {
            Ok(token) => {
                pending.request.park(token, true, pending.waiter);
                return;
            }
            Err(e) => return pending.waiter.deliver(Err(e), CALLBACK),
        }
    }
    let reply = match reply {
        Ok(RespValue::Error(message)) => Err(Error::RedisReply(message)),
        other => other,
    };
    pending.waiter.deliver(reply, CALLBACK);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::FqdnCluster;

    #[test]
    fn upstream_carries_the_options() {
        let client = RedisClient::new(FqdnCluster::new("redis.static", 6379));
        assert_eq!(client.cluster_name(), "outbound|6379||redis.static");
        assert_eq!(
            client.upstream(),
            "outbound|6379||redis.static?buffer_flush_timeout=3&max_buffer_size_before_flush=1024"
        );
        assert_eq!(
            RedisOptions::default().database(2).disable_buffer().query(),
            "db=2&buffer_flush_timeout=0&max_buffer_size_before_flush=0"
        );
    }

    #[test]
    fn a_client_without_init_is_not_ready() {
        let client = RedisClient::new(FqdnCluster::new("r", 6379));
        let err = client.get("k").dispatch().unwrap_err();
        assert!(
            err.to_string().contains("not ready: init was not called"),
            "{err}"
        );
        // Natively the host calls are stubs answering Unimplemented.
        let err = client
            .init("", "", 100, RedisOptions::default())
            .unwrap_err();
        assert!(
            err.to_string().contains("cannot init redis cluster"),
            "{err}"
        );
        assert!(!client.ready());
    }
}
