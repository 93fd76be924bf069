//! Callouts from plugins: the [`CalloutHandler`] each VM gets (it checks the cluster and
//! queues the call), cluster-name resolution, and the worker task that performs HTTP calls
//! and Redis commands and hands the answers back to the VM that made them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use wasmgate_host::abi::Status;
use wasmgate_host::{CalloutHandler, HttpCallout, HttpCalloutResponse, RedisCallout, RedisInit};

use crate::config::ClusterSpec;
use crate::convert;
use crate::slot::Slot;

/// The HTTP client callouts and upstream requests use.
pub(crate) type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<HttpConnector>,
    crate::chain::Body,
>;

/// A new pooled HTTP/1 client for `http://` and (with `tls`) `https://` URIs. Its
/// connections send without Nagle's delay: a request head and its body go out as separate
/// writes, and the second would otherwise wait for the upstream's delayed ACK (about 40 ms
/// on Linux).
pub(crate) fn client(tls: &rustls::ClientConfig) -> Client {
    let mut plain = HttpConnector::new();
    plain.set_nodelay(true);
    plain.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(plain);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector)
}

/// Where a request to a cluster goes: one endpoint's `host:port`, over TLS or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`.
    pub address: String,
    /// Whether HTTP goes over TLS (`https://`).
    pub tls: bool,
}

impl Endpoint {
    /// The URI of `path` (with its query) at this endpoint.
    pub(crate) fn uri(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.address)
    }
}

/// Envoy's reset reason for an upstream that closed the connection before its answer.
pub(crate) const TERMINATED: &str = "connection termination";

/// Envoy's reset reason for an upstream exchange that failed before the response head.
pub(crate) fn reset_reason(error: &hyper_util::client::legacy::Error) -> &'static str {
    if error.is_connect() {
        "remote connection failure"
    } else {
        TERMINATED
    }
}

/// An error and its causes on one line (hyper's own text, `client error (Connect)`, does
/// not say that the connection was refused).
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The body of the 503 Envoy's router answers for an upstream that failed before its
/// response head.
pub(crate) fn reset_body(reason: &str) -> String {
    format!("upstream connect error or disconnect/reset before headers. reset reason: {reason}")
}

/// The cluster table: names (and aliases) to endpoints, picked round robin. Plugins name
/// clusters Higress's way (`outbound|PORT|SUBSET|FQDN`); such a name finds a cluster whose
/// name or alias is the whole name, the FQDN, or the FQDN's service (`auth` in `auth.dns`),
/// and a real domain with no cluster is the domain at that port.
#[derive(Debug, Default)]
pub struct Clusters {
    list: Vec<(ClusterSpec, AtomicUsize)>,
}

const REGISTRY_SUFFIXES: [&str; 6] = [
    ".dns",
    ".static",
    ".nacos",
    ".nacos-ext",
    ".consul",
    ".svc.cluster.local",
];

impl Clusters {
    /// A table of clusters.
    pub fn new(clusters: &[ClusterSpec]) -> Self {
        Clusters {
            list: clusters
                .iter()
                .map(|c| (c.clone(), AtomicUsize::new(0)))
                .collect(),
        }
    }

    /// The cluster a name means, if any.
    pub fn find(&self, name: &str) -> Option<&ClusterSpec> {
        let name = name.split('?').next().unwrap_or(name);
        let mut candidates = vec![name.to_string()];
        if let Some((port, fqdn)) = higress_name(name) {
            candidates.push(fqdn.to_string());
            candidates.push(format!("{fqdn}:{port}"));
            let service = REGISTRY_SUFFIXES
                .iter()
                .find_map(|suffix| fqdn.strip_suffix(suffix))
                .map(|rest| rest.split('.').next().unwrap_or(rest));
            if let Some(service) = service {
                candidates.push(service.to_string());
            }
        }
        candidates.iter().find_map(|candidate| {
            self.list
                .iter()
                .map(|(c, _)| c)
                .find(|c| &c.name == candidate || c.aliases.contains(candidate))
        })
    }

    /// The next endpoint for a name, or `None` for an unknown cluster. A real domain with
    /// no cluster is reached over TLS at port 443.
    pub fn resolve(&self, name: &str) -> Option<Endpoint> {
        if let Some(cluster) = self.find(name) {
            let (_, next) = self.list.iter().find(|(c, _)| c.name == cluster.name)?;
            let at = next.fetch_add(1, Ordering::Relaxed) % cluster.endpoints.len().max(1);
            return cluster.endpoints.get(at).map(|address| Endpoint {
                address: address.clone(),
                tls: cluster.tls,
            });
        }
        let (port, fqdn) = higress_name(name.split('?').next().unwrap_or(name))?;
        if REGISTRY_SUFFIXES.iter().any(|s| fqdn.ends_with(s)) {
            return None;
        }
        Some(Endpoint {
            address: format!("{fqdn}:{port}"),
            tls: port == 443,
        })
    }
}

/// The port and FQDN of `outbound|PORT|SUBSET|FQDN`.
fn higress_name(name: &str) -> Option<(u16, &str)> {
    let mut parts = name.split('|');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("outbound"), Some(port), Some(_subset), Some(fqdn), None) if !fqdn.is_empty() => {
            Some((port.parse().ok()?, fqdn))
        }
        _ => None,
    }
}

/// A call queued by a VM, tagged with the VM generation it belongs to.
pub(crate) enum Outbound {
    Http(u64, HttpCallout, Endpoint),
    /// Redis goes over plain TCP to the endpoint's address.
    Redis(u64, RedisCallout, String, Option<RedisInit>),
}

/// The callout handler of one VM.
pub(crate) struct SlotCallouts {
    outbound: mpsc::UnboundedSender<Outbound>,
    clusters: Arc<Clusters>,
    generation: u64,
    redis: HashMap<String, RedisInit>,
}

impl SlotCallouts {
    pub(crate) fn new(
        outbound: mpsc::UnboundedSender<Outbound>,
        clusters: Arc<Clusters>,
        generation: u64,
    ) -> Self {
        SlotCallouts {
            outbound,
            clusters,
            generation,
            redis: HashMap::new(),
        }
    }
}

impl CalloutHandler for SlotCallouts {
    fn http_call(&mut self, call: HttpCallout) -> Result<(), Status> {
        let endpoint = self.clusters.resolve(&call.upstream).ok_or_else(|| {
            tracing::warn!("HTTP callout to unknown cluster {:?}", call.upstream);
            Status::BadArgument
        })?;
        self.outbound
            .send(Outbound::Http(self.generation, call, endpoint))
            .map_err(|_| Status::InternalFailure)
    }

    fn redis_init(&mut self, init: RedisInit) -> Status {
        let name = init
            .upstream
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        if self.clusters.resolve(&name).is_none() {
            tracing::warn!("Redis init for unknown cluster {name:?}");
            return Status::BadArgument;
        }
        self.redis.insert(name, init);
        Status::Ok
    }

    fn redis_call(&mut self, call: RedisCallout) -> Result<(), Status> {
        let address = self
            .clusters
            .resolve(&call.upstream)
            .ok_or(Status::BadArgument)?
            .address;
        let init = self.redis.get(&call.upstream).cloned();
        self.outbound
            .send(Outbound::Redis(self.generation, call, address, init))
            .map_err(|_| Status::InternalFailure)
    }
}

/// Performs the calls of one slot's VM and delivers their answers.
pub(crate) async fn serve(
    slot: Weak<RefCell<Slot>>,
    mut inbox: mpsc::UnboundedReceiver<Outbound>,
    client: Client,
) {
    let pool = Rc::new(RedisPool::default());
    while let Some(call) = inbox.recv().await {
        let slot = slot.clone();
        let client = client.clone();
        let pool = pool.clone();
        tokio::task::spawn_local(async move {
            match call {
                Outbound::Http(generation, call, endpoint) => {
                    let token = call.token;
                    let response = http_call(&client, call, &endpoint).await;
                    if let Some(slot) = slot.upgrade() {
                        slot.borrow_mut().deliver_http(generation, token, response);
                    }
                }
                Outbound::Redis(generation, call, address, init) => {
                    let token = call.token;
                    let (status, reply) = match pool.call(&call, &address, init.as_ref()).await {
                        Ok(reply) => (0, reply),
                        Err(e) => {
                            tracing::warn!(
                                "Redis call to {} ({address}) failed: {e}",
                                call.upstream
                            );
                            (1, Vec::new())
                        }
                    };
                    if let Some(slot) = slot.upgrade() {
                        slot.borrow_mut()
                            .deliver_redis(generation, token, status, reply);
                    }
                }
            }
        });
    }
}

async fn http_call(
    client: &Client,
    call: HttpCallout,
    endpoint: &Endpoint,
) -> Option<HttpCalloutResponse> {
    let path = convert::pseudo(&call.headers, ":path")
        .unwrap_or("/")
        .to_string();
    let method = convert::pseudo(&call.headers, ":method")
        .unwrap_or("GET")
        .to_string();
    let authority = convert::pseudo(&call.headers, ":authority")
        .unwrap_or(&endpoint.address)
        .to_string();
    let uri = endpoint.uri(&path);
    let mut request = http::Request::builder().method(method.as_str()).uri(&uri);
    if let Some(headers) = request.headers_mut() {
        *headers = convert::http_headers(&call.headers);
        if let Ok(host) = http::HeaderValue::from_str(&authority) {
            headers.insert(http::header::HOST, host);
        }
    }
    let request = match request.body(crate::chain::full(call.body)) {
        Ok(request) => request,
        Err(e) => {
            tracing::warn!(
                "HTTP callout to {} is not a valid request: {e}",
                call.upstream
            );
            return None;
        }
    };
    let timeout = Duration::from_millis(call.timeout_ms.max(1) as u64);
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| (with_causes(&e), reset_reason(&e)))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| (e.to_string(), TERMINATED))?
            .to_bytes();
        Ok::<_, (String, &str)>((parts, body))
    };
    // As Envoy does, a call that fails reaches the plugin as the local reply its router
    // would send: 503 when the service cannot be reached, 504 past the timeout.
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok((parts, body))) => Some(HttpCalloutResponse {
            headers: convert::response_map(parts.status, &parts.headers),
            body: body.to_vec(),
            trailers: Default::default(),
        }),
        Ok(Err((e, reason))) => {
            tracing::warn!("HTTP callout to {} ({uri}) failed: {e}", call.upstream);
            Some(failure(503, &reset_body(reason)))
        }
        Err(_) => {
            tracing::warn!(
                "HTTP callout to {} ({uri}) timed out after {} ms",
                call.upstream,
                call.timeout_ms
            );
            Some(failure(504, "upstream request timeout"))
        }
    }
}

fn failure(status: u16, body: &str) -> HttpCalloutResponse {
    let length = body.len().to_string();
    HttpCalloutResponse::new(
        status,
        &[("content-length", &length), ("content-type", "text/plain")],
        body,
    )
}

/// Idle Redis connections of one worker, by address and credentials (AUTH and SELECT were
/// sent when each was opened).
#[derive(Default)]
struct RedisPool {
    idle: RefCell<HashMap<String, Vec<tokio::net::TcpStream>>>,
}

impl RedisPool {
    /// Sends one RESP command and reads one reply, on a pooled connection.
    async fn call(
        &self,
        call: &RedisCallout,
        address: &str,
        init: Option<&RedisInit>,
    ) -> Result<Vec<u8>, String> {
        let key = format!(
            "{address}|{}",
            init.map(|i| format!("{}|{}|{}", i.username, i.password, i.upstream))
                .unwrap_or_default()
        );
        let timeout =
            Duration::from_millis(init.map(|i| i.timeout_ms).unwrap_or(1000).max(1) as u64);
        let pooled = self.idle.borrow_mut().get_mut(&key).and_then(Vec::pop);
        let exchange = async {
            let mut stream = match pooled {
                Some(stream) => stream,
                None => connect(address, init).await?,
            };
            stream
                .write_all(&call.query)
                .await
                .map_err(|e| e.to_string())?;
            let reply = read_reply(&mut stream, &mut Vec::new()).await?;
            Ok::<_, String>((stream, reply))
        };
        let (stream, reply) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| format!("timed out after {} ms", timeout.as_millis()))??;
        self.idle.borrow_mut().entry(key).or_default().push(stream);
        Ok(reply)
    }
}

/// Opens a connection and sends AUTH and SELECT from the plugin's `proxy_redis_init`.
async fn connect(address: &str, init: Option<&RedisInit>) -> Result<tokio::net::TcpStream, String> {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    for setup in init.map(setup_commands).unwrap_or_default() {
        stream.write_all(&setup).await.map_err(|e| e.to_string())?;
        let reply = read_reply(&mut stream, &mut Vec::new()).await?;
        if reply.first() == Some(&b'-') {
            return Err(String::from_utf8_lossy(&reply).trim().to_string());
        }
    }
    Ok(stream)
}

fn setup_commands(init: &RedisInit) -> Vec<Vec<u8>> {
    let mut commands = Vec::new();
    if !init.password.is_empty() {
        let mut args = vec!["AUTH"];
        if !init.username.is_empty() {
            args.push(&init.username);
        }
        args.push(&init.password);
        commands.push(resp_command(&args));
    }
    let db = init
        .upstream
        .split_once('?')
        .and_then(|(_, query)| query.split('&').find_map(|kv| kv.strip_prefix("db=")))
        .filter(|db| *db != "0");
    if let Some(db) = db {
        commands.push(resp_command(&["SELECT", db]));
    }
    commands
}

fn resp_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

async fn read_reply(
    stream: &mut tokio::net::TcpStream,
    buffer: &mut Vec<u8>,
) -> Result<Vec<u8>, String> {
    loop {
        if let Some(end) = resp_end(buffer, 0) {
            let reply = buffer[..end].to_vec();
            buffer.drain(..end);
            return Ok(reply);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before a full reply".into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// The end of the RESP value that starts at `at`, if the buffer holds all of it.
fn resp_end(buf: &[u8], at: usize) -> Option<usize> {
    let line_end = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
    let after_line = line_end + 2;
    let number = || {
        std::str::from_utf8(&buf[at + 1..line_end])
            .ok()?
            .parse::<i64>()
            .ok()
    };
    match buf[at] {
        b'$' => {
            let len = number()?;
            if len < 0 {
                return Some(after_line);
            }
            let end = after_line + len as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' => {
            let count = number()?;
            let mut end = after_line;
            for _ in 0..count.max(0) {
                end = resp_end(buf, end)?;
            }
            Some(end)
        }
        _ => Some(after_line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_says_its_causes() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            with_causes(&Outer(refused)),
            "client error (Connect): refused"
        );
    }

    #[test]
    fn resolves_names_aliases_and_real_domains() {
        let clusters = Clusters::new(&[
            ClusterSpec {
                name: "outbound|80||httpbin.dns".into(),
                endpoints: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
                aliases: vec!["httpbin".into()],
                ..ClusterSpec::default()
            },
            ClusterSpec {
                name: "redis".into(),
                endpoints: vec!["127.0.0.1:6379".into()],
                ..ClusterSpec::default()
            },
            ClusterSpec {
                name: "secure".into(),
                endpoints: vec!["127.0.0.1:8443".into()],
                tls: true,
                ..ClusterSpec::default()
            },
        ]);
        let endpoint = |address: &str, tls: bool| {
            Some(Endpoint {
                address: address.to_string(),
                tls,
            })
        };
        assert_eq!(
            clusters.resolve("outbound|80||httpbin.dns"),
            endpoint("127.0.0.1:1", false)
        );
        assert_eq!(
            clusters.resolve("httpbin"),
            endpoint("127.0.0.1:2", false),
            "round robin"
        );
        assert_eq!(
            clusters.resolve("outbound|8443||secure.dns"),
            endpoint("127.0.0.1:8443", true)
        );
        assert_eq!(
            clusters.find("outbound|8080||httpbin.static").unwrap().name,
            "outbound|80||httpbin.dns"
        );
        assert_eq!(
            clusters
                .find("outbound|6379||redis.static?db=1")
                .unwrap()
                .name,
            "redis"
        );
        assert_eq!(
            clusters
                .find("outbound|6379|v1|redis.default.svc.cluster.local")
                .unwrap()
                .name,
            "redis"
        );
        assert_eq!(
            clusters.resolve("outbound|443||api.example.com"),
            endpoint("api.example.com:443", true)
        );
        assert_eq!(
            clusters.resolve("outbound|8080||api.example.com"),
            endpoint("api.example.com:8080", false)
        );
        assert_eq!(clusters.resolve("outbound|80||other.dns"), None);
        assert_eq!(clusters.resolve("nope"), None);
    }

    #[test]
    fn finds_the_end_of_resp_values() {
        assert_eq!(resp_end(b"+OK\r\n", 0), Some(5));
        assert_eq!(resp_end(b"$3\r\nabc\r\n", 0), Some(9));
        assert_eq!(resp_end(b"$3\r\nab", 0), None);
        assert_eq!(resp_end(b"*2\r\n:1\r\n$-1\r\n", 0), Some(13));
        assert_eq!(resp_end(b"*2\r\n:1\r\n", 0), None);
    }

    #[test]
    fn init_sends_auth_and_select() {
        let init = RedisInit {
            upstream: "outbound|6379||redis.static?db=2&buffer_flush_timeout=3".into(),
            username: String::new(),
            password: "pw".into(),
            timeout_ms: 100,
        };
        let commands = setup_commands(&init);
        assert_eq!(commands[0], b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
        assert_eq!(commands[1], b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
    }
}
