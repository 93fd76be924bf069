//! A request's walk: request headers and body through each plugin in order, the upstream,
//! then response headers and body through the plugins in reverse. Any phase may pause the
//! request until its plugin resumes it or replies; a local reply goes back through the
//! response phases of the plugins that saw the request, as in Envoy.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use wasmgate_host::{HeaderMap, HostError, LocalReply, PhaseOutcome, StreamInfo, StreamSignal};

use crate::callouts::{Client, Clusters};
use crate::config::{AccessLog, GatewayConfig, RouteSpec};
use crate::convert;
use crate::metrics::GatewayMetrics;
use crate::slot::SlotRef;

/// What one worker serves with: one configuration generation (a reload builds a new one;
/// requests in flight finish on the one they started with).
pub(crate) struct Worker {
    pub(crate) slots: Vec<SlotRef>,
    pub(crate) client: Client,
    pub(crate) config: Arc<GatewayConfig>,
    pub(crate) clusters: Arc<Clusters>,
    pub(crate) metrics: Arc<GatewayMetrics>,
}

/// The connection a request came on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connection {
    pub(crate) id: u64,
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
}

/// The request and response as they stand, moved into a plugin's stream for each phase.
#[derive(Default)]
struct Message {
    request_headers: HeaderMap,
    request_body: Vec<u8>,
    response_headers: HeaderMap,
    response_body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    RequestHeaders,
    RequestBody,
    ResponseHeaders,
    ResponseBody,
}

/// How a phase ended for the walk.
enum Step {
    Continue,
    Reply(LocalReply),
    Fail(http::StatusCode, String),
}

struct Active {
    slot: SlotRef,
    id: u32,
    generation: u64,
}

struct Walk {
    worker: Rc<Worker>,
    actives: Vec<Active>,
    message: Message,
    request_id: String,
    route: Option<RouteSpec>,
    upstream: Option<String>,
    custom_log: serde_json::Map<String, serde_json::Value>,
}

/// Serves one request.
pub(crate) async fn handle(
    worker: Rc<Worker>,
    request: http::Request<Incoming>,
    connection: Connection,
) -> http::Response<Full<Bytes>> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let head = parts.method == http::Method::HEAD;
    let mut walk = Walk {
        worker: worker.clone(),
        actives: Vec::new(),
        message: Message::default(),
        request_id: String::new(),
        route: None,
        upstream: None,
        custom_log: serde_json::Map::new(),
    };
    let response = match Limited::new(body, worker.config.body_limit).collect().await {
        Ok(body) => {
            walk.message.request_headers = convert::request_map(&parts);
            walk.message.request_body = body.to_bytes().to_vec();
            walk.request_id = ensure_request_id(&mut walk.message.request_headers);
            walk.run(connection).await
        }
        Err(e) if e.is::<http_body_util::LengthLimitError>() => plain(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        ),
        Err(e) => plain(
            http::StatusCode::BAD_REQUEST,
            &format!("cannot read the request body: {e}"),
        ),
    };
    walk.finish();
    let response = finish_response(response, head);
    let route = walk.route.as_ref().map(|r| r.name.as_str()).unwrap_or("");
    worker
        .metrics
        .record(route, response.status().as_u16(), started.elapsed());
    access_log(
        &worker.config,
        &walk,
        &parts,
        response.status(),
        started.elapsed(),
    );
    response
}

fn access_log(
    config: &GatewayConfig,
    walk: &Walk,
    parts: &http::request::Parts,
    status: http::StatusCode,
    elapsed: std::time::Duration,
) {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let route = walk.route.as_ref().map(|r| r.name.as_str()).unwrap_or("-");
    let upstream = walk.upstream.as_deref().unwrap_or("-");
    let millis = elapsed.as_secs_f64() * 1000.0;
    match config.access_log {
        AccessLog::Off => {}
        AccessLog::Text => {
            let custom = if walk.custom_log.is_empty() {
                String::new()
            } else {
                format!(" {}", serde_json::Value::Object(walk.custom_log.clone()))
            };
            tracing::info!(
                target: "access",
                "{} {path} {} {millis:.3}ms route={route} upstream={upstream} request_id={}{custom}",
                parts.method,
                status.as_u16(),
                walk.request_id
            );
        }
        AccessLog::Json => {
            let mut line = serde_json::json!({
                "method": parts.method.as_str(),
                "path": path,
                "status": status.as_u16(),
                "duration_ms": (millis * 1000.0).round() / 1000.0,
                "route": route,
                "upstream": upstream,
                "request_id": walk.request_id,
            });
            if let Some(object) = line.as_object_mut() {
                for (key, value) in &walk.custom_log {
                    object.entry(key.clone()).or_insert(value.clone());
                }
            }
            tracing::info!(target: "access", "{line}");
        }
    }
}

impl Walk {
    async fn run(&mut self, connection: Connection) -> http::Response<Full<Bytes>> {
        let host = convert::pseudo(&self.message.request_headers, ":authority").unwrap_or("");
        let path = convert::pseudo(&self.message.request_headers, ":path").unwrap_or("/");
        self.route = self.worker.config.route(host, path).cloned();
        let info = self.stream_info(connection);
        let has_body = !self.message.request_body.is_empty();
        for index in 0..self.worker.slots.len() {
            if !self.open(index, &info) {
                return plain(http::StatusCode::INTERNAL_SERVER_ERROR, "plugin failed");
            }
            match self
                .phase(self.actives.len() - 1, Phase::RequestHeaders, !has_body)
                .await
            {
                Step::Continue => {}
                Step::Reply(reply) => return self.local_reply(reply, self.actives.len()).await,
                Step::Fail(status, message) => return plain(status, &message),
            }
        }
        if has_body {
            for index in 0..self.actives.len() {
                match self.phase(index, Phase::RequestBody, true).await {
                    Step::Continue => {}
                    Step::Reply(reply) => return self.local_reply(reply, index + 1).await,
                    Step::Fail(status, message) => return plain(status, &message),
                }
            }
        }
        match self.upstream().await {
            Ok(()) => self.response_phases(self.actives.len()).await,
            Err(reply) => self.local_reply(reply, self.actives.len()).await,
        }
    }

    fn stream_info(&self, connection: Connection) -> StreamInfo {
        StreamInfo {
            route_name: self.route.as_ref().map(|r| r.name.clone()),
            cluster_name: self.route.as_ref().map(|r| r.cluster.clone()),
            source_address: Some(connection.remote.to_string()),
            destination_address: Some(connection.local.to_string()),
            connection_id: connection.id,
            protocol: Some("HTTP/1.1".into()),
            upstream_address: None,
            response_code_details: None,
            start_time_nanos: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0),
        }
    }

    /// Creates the stream of plugin `index`. A plugin that cannot is skipped when it
    /// fails open; otherwise the request fails (false).
    fn open(&mut self, index: usize, info: &StreamInfo) -> bool {
        let slot = self.worker.slots[index].clone();
        let created = {
            let mut s = slot.borrow_mut();
            let generation = s.generation;
            match s.vm.create_stream(info.clone()) {
                Ok(id) => Ok((id, generation)),
                Err(e) => {
                    s.recover(&e);
                    Err((e, s.plugin.spec.fail_open))
                }
            }
        };
        match created {
            Ok((id, generation)) => {
                self.actives.push(Active {
                    slot,
                    id,
                    generation,
                });
                true
            }
            Err((e, fail_open)) => {
                let skip = if fail_open {
                    " (fail-open: skipping it)"
                } else {
                    ""
                };
                tracing::error!(request_id = %self.request_id, "{e}{skip}");
                fail_open
            }
        }
    }

    /// Runs one phase of one plugin, waiting out a pause.
    async fn phase(&mut self, index: usize, phase: Phase, end_of_stream: bool) -> Step {
        let active = &self.actives[index];
        let (slot, id, generation) = (active.slot.clone(), active.id, active.generation);
        let (result, fail_open, name) = {
            let mut s = slot.borrow_mut();
            if s.generation != generation {
                // The VM crashed earlier in this request: skip it if it fails open.
                return if s.plugin.spec.fail_open {
                    Step::Continue
                } else {
                    Step::Fail(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        "plugin failed".into(),
                    )
                };
            }
            if let Some(stream) = s.vm.stream_mut(id) {
                swap(&mut self.message, stream);
            }
            let result = match phase {
                Phase::RequestHeaders => s.vm.on_request_headers(id, end_of_stream),
                Phase::RequestBody => s.vm.on_request_body(id, end_of_stream),
                Phase::ResponseHeaders => s.vm.on_response_headers(id, end_of_stream),
                Phase::ResponseBody => s.vm.on_response_body(id, end_of_stream),
            };
            let result = match result {
                Ok(PhaseOutcome::Pause { .. }) => Ok(Err(s.wait(id))),
                Ok(outcome) => Ok(Ok(outcome)),
                Err(e) => Err(e),
            };
            if !matches!(result, Ok(Err(_))) {
                if let Some(stream) = s.vm.stream_mut(id) {
                    swap(&mut self.message, stream);
                }
            }
            if let Err(e) = &result {
                s.recover(e);
            }
            (result, s.plugin.spec.fail_open, s.plugin.spec.name.clone())
        };
        match result {
            Ok(Ok(outcome)) => outcome_step(outcome, &name),
            Ok(Err(waiter)) => self.wait(&slot, id, generation, waiter, &name).await,
            Err(e) => self.crashed(e, fail_open),
        }
    }

    async fn wait(
        &mut self,
        slot: &SlotRef,
        id: u32,
        generation: u64,
        waiter: tokio::sync::oneshot::Receiver<StreamSignal>,
        name: &str,
    ) -> Step {
        let timeout = self.worker.config.pause_timeout;
        let signal = tokio::time::timeout(timeout, waiter).await;
        let mut s = slot.borrow_mut();
        let alive = s.generation == generation;
        if alive {
            s.forget(id);
            if let Some(stream) = s.vm.stream_mut(id) {
                swap(&mut self.message, stream);
            }
        }
        match signal {
            Ok(Ok(StreamSignal::ResumeRequest | StreamSignal::ResumeResponse)) => Step::Continue,
            Ok(Ok(StreamSignal::LocalReply(reply))) => Step::Reply(reply),
            Ok(Ok(StreamSignal::Close)) => closed(name),
            Ok(Err(_)) => Step::Fail(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "plugin failed".into(),
            ),
            Err(_) => {
                tracing::error!(
                    request_id = %self.request_id,
                    "plugin {name} held the request for {} ms without resuming it",
                    timeout.as_millis()
                );
                Step::Fail(
                    http::StatusCode::GATEWAY_TIMEOUT,
                    "plugin did not resume the request".into(),
                )
            }
        }
    }

    fn crashed(&self, error: HostError, fail_open: bool) -> Step {
        tracing::error!(request_id = %self.request_id, "{error}");
        if fail_open {
            Step::Continue
        } else {
            Step::Fail(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "plugin failed".into(),
            )
        }
    }

    /// Sends the request upstream and puts the answer in the message; a failure becomes the
    /// local reply Envoy would send (503 when unreachable, 504 on timeout).
    async fn upstream(&mut self) -> Result<(), LocalReply> {
        let Some(route) = self.route.clone() else {
            self.set_code_details("route_not_found");
            return Err(reply(
                http::StatusCode::NOT_FOUND,
                "no route matches this request",
            ));
        };
        let Some(address) = self.worker.clusters.resolve(&route.cluster) else {
            self.set_code_details("cluster_not_found");
            return Err(reply(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "no healthy upstream",
            ));
        };
        self.upstream = Some(address.clone());
        let headers = &self.message.request_headers;
        let path = convert::pseudo(headers, ":path").unwrap_or("/");
        let method = convert::pseudo(headers, ":method").unwrap_or("GET");
        let uri = format!("http://{address}{path}");
        let mut builder = http::Request::builder().method(method).uri(&uri);
        if let Some(out) = builder.headers_mut() {
            *out = convert::http_headers(headers);
            strip_hop_by_hop(out);
            if let Some(host) = convert::pseudo(headers, ":authority")
                .and_then(|a| http::HeaderValue::from_str(a).ok())
            {
                out.insert(http::header::HOST, host);
            }
        }
        let body = Full::new(Bytes::from(std::mem::take(&mut self.message.request_body)));
        let request = builder.body(body).map_err(|e| {
            reply(
                http::StatusCode::BAD_REQUEST,
                &format!("the request is not valid HTTP: {e}"),
            )
        })?;
        let exchange = async {
            let response = self.worker.client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((parts, body))
        };
        match tokio::time::timeout(route.timeout, exchange).await {
            Ok(Ok((parts, body))) => {
                self.message.response_headers = convert::response_map(parts.status, &parts.headers);
                self.message.response_body = body.to_vec();
                self.set_code_details("via_upstream");
                self.set_upstream_address(&address);
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::warn!(request_id = %self.request_id, "upstream {uri}: {e}");
                self.set_code_details("upstream_reset_before_response_started");
                Err(reply(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "upstream connect error or disconnect/reset before headers",
                ))
            }
            Err(_) => {
                self.set_code_details("upstream_response_timeout");
                Err(reply(
                    http::StatusCode::GATEWAY_TIMEOUT,
                    "upstream request timeout",
                ))
            }
        }
    }

    fn set_upstream_address(&self, address: &str) {
        for active in &self.actives {
            let mut s = active.slot.borrow_mut();
            if s.generation == active.generation {
                if let Some(stream) = s.vm.stream_mut(active.id) {
                    stream.info.upstream_address = Some(address.to_string());
                }
            }
        }
    }

    fn set_code_details(&self, details: &str) {
        for active in &self.actives {
            let mut s = active.slot.borrow_mut();
            if s.generation == active.generation {
                if let Some(stream) = s.vm.stream_mut(active.id) {
                    stream.info.response_code_details = Some(details.to_string());
                }
            }
        }
    }

    /// Answers with a local reply, through the response phases of the first `seen` plugins.
    async fn local_reply(&mut self, reply: LocalReply, seen: usize) -> http::Response<Full<Bytes>> {
        let mut headers = HeaderMap::new();
        headers.add(b":status", reply.status.to_string().as_bytes());
        headers.pairs.extend(reply.headers.pairs);
        if !reply.body.is_empty() && headers.get(b"content-type").is_none() {
            headers.add(b"content-type", b"text/plain");
        }
        self.message.response_headers = headers;
        self.message.response_body = reply.body;
        self.response_phases(seen).await
    }

    /// Response headers, then body, through the first `seen` plugins in reverse order.
    async fn response_phases(&mut self, seen: usize) -> http::Response<Full<Bytes>> {
        let has_body = !self.message.response_body.is_empty();
        let mut phases = vec![Phase::ResponseHeaders];
        if has_body {
            phases.push(Phase::ResponseBody);
        }
        for phase in phases {
            for index in (0..seen.min(self.actives.len())).rev() {
                let eos = phase == Phase::ResponseBody || !has_body;
                match self.phase(index, phase, eos).await {
                    Step::Continue => {}
                    Step::Reply(reply) => return reply_response(reply),
                    Step::Fail(status, message) => return plain(status, &message),
                }
            }
        }
        self.response()
    }

    fn response(&mut self) -> http::Response<Full<Bytes>> {
        let headers = std::mem::take(&mut self.message.response_headers);
        let status = convert::pseudo(&headers, ":status")
            .and_then(|s| s.parse::<u16>().ok())
            .and_then(|s| http::StatusCode::from_u16(s).ok())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = http::Response::new(Full::new(Bytes::from(std::mem::take(
            &mut self.message.response_body,
        ))));
        *response.status_mut() = status;
        *response.headers_mut() = convert::http_headers(&headers);
        response
    }

    /// Ends every plugin stream of the request (`on_done`, `on_log`, `on_delete`).
    fn finish(&mut self) {
        for active in self.actives.drain(..) {
            let mut s = active.slot.borrow_mut();
            if s.generation != active.generation {
                continue;
            }
            s.forget(active.id);
            if let Some(log) =
                s.vm.stream(active.id)
                    .and_then(|st| st.property("custom_log"))
            {
                merge_custom_log(&mut self.custom_log, log);
            }
            if let Err(e) = s.vm.finish_stream(active.id) {
                tracing::error!(request_id = %self.request_id, "{e}");
                s.recover(&e);
            }
        }
    }
}

fn swap(message: &mut Message, stream: &mut wasmgate_host::stream::HttpStream) {
    std::mem::swap(&mut message.request_headers, &mut stream.request_headers);
    std::mem::swap(&mut message.request_body, &mut stream.request_body);
    std::mem::swap(&mut message.response_headers, &mut stream.response_headers);
    std::mem::swap(&mut message.response_body, &mut stream.response_body);
}

fn outcome_step(outcome: PhaseOutcome, name: &str) -> Step {
    match outcome {
        PhaseOutcome::Continue | PhaseOutcome::Pause { .. } => Step::Continue,
        PhaseOutcome::LocalReply(reply) => Step::Reply(reply),
        PhaseOutcome::Close => closed(name),
    }
}

fn closed(name: &str) -> Step {
    Step::Fail(
        http::StatusCode::BAD_GATEWAY,
        format!("plugin {name} closed the stream"),
    )
}

fn reply(status: http::StatusCode, body: &str) -> LocalReply {
    LocalReply {
        status: status.as_u16() as u32,
        details: String::new(),
        body: body.as_bytes().to_vec(),
        headers: HeaderMap::new(),
        grpc_status: None,
    }
}

fn reply_response(reply: LocalReply) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = http::StatusCode::from_u16(reply.status as u16)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    *response.headers_mut() = convert::http_headers(&reply.headers);
    response
}

fn plain(status: http::StatusCode, body: &str) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    response
}

/// Drops framing headers: hyper frames the body it sends (so a plugin that changed a body
/// never leaves a stale `content-length`), except for HEAD, whose length describes a GET.
fn finish_response(
    mut response: http::Response<Full<Bytes>>,
    head: bool,
) -> http::Response<Full<Bytes>> {
    let headers = response.headers_mut();
    headers.remove(http::header::TRANSFER_ENCODING);
    headers.remove(http::header::CONNECTION);
    if !head {
        headers.remove(http::header::CONTENT_LENGTH);
    }
    response
}

fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    ] {
        headers.remove(name);
    }
}

/// Adds an `x-request-id` when the client sent none (as Envoy does at the edge).
fn ensure_request_id(headers: &mut HeaderMap) -> String {
    if let Some(id) = headers.get_str("x-request-id") {
        return id.to_string();
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let a = hasher.finish();
    hasher.write_u64(a);
    let b = hasher.finish();
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    );
    headers.add(b"x-request-id", id.as_bytes());
    id
}

/// Adds a plugin's `custom_log` (a JSON object, possibly escaped as a JSON string) to the
/// access log's attributes; text that is not JSON is kept under `custom_log`.
fn merge_custom_log(into: &mut serde_json::Map<String, serde_json::Value>, raw: &[u8]) {
    let parsed = serde_json::from_slice::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::String(inner) => serde_json::from_str(&inner).ok(),
            other => Some(other),
        });
    match parsed {
        Some(serde_json::Value::Object(map)) => into.extend(map),
        _ => {
            into.insert(
                "custom_log".into(),
                serde_json::Value::String(String::from_utf8_lossy(raw).into_owned()),
            );
        }
    }
}
