//! A request's walk. Request headers go through each plugin in order; the request body then
//! streams through the plugins' body phases chunk by chunk (a plugin that stops holds the
//! data, which the next call gives it again with what came since, as Envoy buffers) and on
//! to the upstream; the response headers and body go back through the plugins in reverse.
//! Any phase may pause the request until its plugin resumes it or replies; a local reply
//! goes back through the response phases of the plugins that saw the request, as in Envoy.
//!
//! - `body`: streamed bodies (the channel body, the chunk source).
//! - `log`: the access log line.

mod body;
mod log;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::body::Incoming;
use tokio::sync::{mpsc, oneshot};
use wasmgate_host::abi::HeaderAction;
use wasmgate_host::{HeaderMap, HostError, LocalReply, PhaseOutcome, StreamInfo, StreamSignal};

use body::{channel, Source};
pub(crate) use body::{full, Body, BodyError};

use crate::callouts::{
    reset_body, reset_reason, with_causes, Client, Clusters, Endpoint, TERMINATED,
};
use crate::config::{GatewayConfig, RouteSpec};
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

/// The route a request took: a place in the worker's config, shared rather than copied per
/// request.
#[derive(Clone)]
struct RouteRef {
    config: Arc<GatewayConfig>,
    index: usize,
}

impl std::ops::Deref for RouteRef {
    type Target = RouteSpec;

    fn deref(&self) -> &RouteSpec {
        &self.config.routes[self.index]
    }
}

/// The connection a request came on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connection {
    pub(crate) id: u64,
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    RequestHeaders,
    RequestBody,
    ResponseHeaders,
    ResponseBody,
}

impl Phase {
    fn is_body(self) -> bool {
        matches!(self, Phase::RequestBody | Phase::ResponseBody)
    }

    fn is_request(self) -> bool {
        matches!(self, Phase::RequestHeaders | Phase::RequestBody)
    }
}

/// How a phase ended for the walk.
enum Step {
    Continue,
    /// A body phase stopped before the end of the stream: the plugin holds the data.
    Held,
    Reply(LocalReply),
    Fail(http::StatusCode, String),
}

/// Where the walk goes after the request side.
enum Outcome {
    /// The response headers went through the plugins; the body comes from the source
    /// through the body phases of the first `seen` plugins.
    Respond { seen: usize, source: Source },
    /// Answer with this, no more phases.
    Direct(http::Response<Body>),
}

struct Active {
    slot: SlotRef,
    id: u32,
    generation: u64,
}

struct Walk {
    worker: Rc<Worker>,
    actives: Vec<Active>,
    request_headers: HeaderMap,
    response_headers: HeaderMap,
    head: bool,
    request_id: String,
    route: Option<RouteRef>,
    upstream: Option<String>,
    custom_log: serde_json::Map<String, serde_json::Value>,
}

/// Serves one request: the walk runs in a task of its own, so the response head can go out
/// while its body still streams through the plugins.
pub(crate) async fn handle(
    worker: Rc<Worker>,
    request: http::Request<Incoming>,
    connection: Connection,
) -> http::Response<Body> {
    let (head_tx, head_rx) = oneshot::channel();
    tokio::task::spawn_local(serve(worker, request, connection, head_tx));
    head_rx
        .await
        .unwrap_or_else(|_| plain(http::StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
}

async fn serve(
    worker: Rc<Worker>,
    request: http::Request<Incoming>,
    connection: Connection,
    head_tx: oneshot::Sender<http::Response<Body>>,
) {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let mut request_headers = convert::request_map(&parts);
    // hyper answers `expect: 100-continue` itself; like Envoy, the header stops here.
    if request_headers
        .get_str("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        request_headers.remove(b"expect");
    }
    // As Envoy's connection manager (a plain listener, `use_remote_address` off): how the
    // request came in, unless the client said; a valid value the client gave is the scheme.
    match request_headers.first(b"x-forwarded-proto") {
        None => request_headers.add(b"x-forwarded-proto", b"http"),
        Some(proto @ (b"http" | b"https")) => {
            let proto = proto.to_vec();
            request_headers.replace(b":scheme", &proto);
        }
        Some(_) => {}
    }
    let request_id = ensure_request_id(&mut request_headers);
    let mut walk = Walk {
        worker: worker.clone(),
        actives: Vec::new(),
        request_headers,
        response_headers: HeaderMap::new(),
        head: parts.method == http::Method::HEAD,
        request_id,
        route: None,
        upstream: None,
        custom_log: serde_json::Map::new(),
    };
    let status = match walk.run(connection, Source::incoming(body)).await {
        Outcome::Direct(response) => {
            let status = response.status();
            let _ = head_tx.send(finish_head(response, walk.head, true));
            status
        }
        Outcome::Respond { seen, source } => walk.stream_response(seen, source, head_tx).await,
    };
    walk.finish();
    let route = walk.route.as_ref().map(|r| r.name.as_str()).unwrap_or("");
    worker
        .metrics
        .record(route, status.as_u16(), started.elapsed());
    log::access_log(&worker.config, &walk, &parts, status, started.elapsed());
}

impl Walk {
    async fn run(&mut self, connection: Connection, mut request_body: Source) -> Outcome {
        self.route = self.matching_route();
        // Only plugins read it: a request with none skips building it.
        let mut info = if self.worker.slots.is_empty() {
            StreamInfo::default()
        } else {
            self.stream_info(connection)
        };
        let mut held = match self
            .header_phases(0, &mut info, request_body.is_empty())
            .await
        {
            Ok(held) => held,
            Err(outcome) => return outcome,
        };
        let route = match self.route.clone() {
            Some(route) => route,
            None => {
                self.set_code_details("route_not_found");
                let reply = reply(http::StatusCode::NOT_FOUND, "no route matches this request");
                return self.local_reply(reply, self.actives.len()).await;
            }
        };
        let Some(endpoint) = self.worker.clusters.resolve(&route.cluster) else {
            self.set_code_details("cluster_not_found");
            let reply = reply(http::StatusCode::SERVICE_UNAVAILABLE, "no healthy upstream");
            return self.local_reply(reply, self.actives.len()).await;
        };
        self.upstream = Some(endpoint.address.clone());
        let mut upstream: Option<Upstream> = None;
        while let Some(next) = request_body.next().await {
            let Ok((chunk, eos)) = next else {
                return Outcome::Direct(plain(
                    http::StatusCode::BAD_REQUEST,
                    "cannot read the request body",
                ));
            };
            info.request_body_bytes += chunk.len() as u64;
            self.count_request_bytes(chunk.len() as u64);
            let order: Vec<usize> = (0..self.actives.len()).collect();
            let mut released = self
                .body_chunk(Phase::RequestBody, &order, chunk, eos)
                .await;
            // A plugin that held only the headers (Higress's StopIteration) lets them go on
            // with the first data it releases: the later plugins see the headers, then it.
            while let (Ok(Some((data, _))), Some(next_slot)) = (&released, held) {
                let data = Bytes::from(data.clone());
                let first_new = self.actives.len();
                held = match self.header_phases(next_slot, &mut info, false).await {
                    Ok(held) => held,
                    Err(outcome) => return outcome,
                };
                let order: Vec<usize> = (first_new..self.actives.len()).collect();
                released = self
                    .body_chunk(Phase::RequestBody, &order, data, eos)
                    .await
                    .map(|r| r.map(|(data, _)| (data, true)));
            }
            let released = match released {
                Ok(released) => released,
                Err(Step::Reply(reply)) => {
                    return self.local_reply(reply, self.actives.len()).await
                }
                Err(Step::Fail(status, message)) => {
                    return Outcome::Direct(plain(status, &message))
                }
                Err(_) => continue,
            };
            let Some((data, changed)) = released else {
                continue;
            };
            match upstream.as_mut() {
                None => upstream = Some(self.start_upstream(&endpoint, data, eos, changed)),
                Some(up) => up.send(data).await,
            }
        }
        let upstream = match upstream {
            Some(upstream) => upstream,
            None => self.start_upstream(&endpoint, Vec::new(), true, false),
        };
        self.await_upstream(upstream, &route, &endpoint.address)
            .await
    }

    /// Opens the streams of the plugins from slot `from` on and runs their request-header
    /// phases. Returns the slot to go on from when a plugin holds only the headers (Higress's
    /// `StopIteration` under `0_2_100`, with a body to come), `None` when every plugin let
    /// the headers through, or the answer when one replied or failed.
    ///
    /// Envoy clears its route cache when a plugin changes the request headers (unless it set
    /// Higress's `clear_route_cache: off`): after each such plugin the route is matched
    /// again, so the next plugins read the new `route_name` and the upstream is the new
    /// route's cluster.
    async fn header_phases(
        &mut self,
        from: usize,
        info: &mut StreamInfo,
        end_of_stream: bool,
    ) -> Result<Option<usize>, Outcome> {
        for index in from..self.worker.slots.len() {
            if !self.open(index, info) {
                return Err(Outcome::Direct(plain(PLUGIN_FAILED, "")));
            }
            let last = self.actives.len() - 1;
            let step = self.phase(last, Phase::RequestHeaders, end_of_stream).await;
            if matches!(step, Step::Continue | Step::Held) && self.clears_route(last) {
                self.rematch_route(info);
            }
            match step {
                Step::Continue => {}
                Step::Held => return Ok(Some(index + 1)),
                Step::Reply(reply) => {
                    return Err(self.local_reply(reply, self.actives.len()).await)
                }
                Step::Fail(status, message) => {
                    return Err(Outcome::Direct(plain(status, &message)))
                }
            }
        }
        Ok(None)
    }

    fn stream_info(&self, connection: Connection) -> StreamInfo {
        StreamInfo {
            route_name: self.route.as_ref().map(|r| r.name.as_str().into()),
            cluster_name: self.route.as_ref().map(|r| r.cluster.as_str().into()),
            source_address: Some(connection.remote.to_string().into()),
            destination_address: Some(connection.local.to_string().into()),
            connection_id: connection.id,
            protocol: Some("HTTP/1.1".into()),
            upstream_address: None,
            response_code_details: None,
            start_time_nanos: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0),
            request_body_bytes: 0,
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

    /// Runs one phase of one plugin. Header phases and a body phase at the end of the
    /// stream wait out a pause; a body phase before the end reports that it holds the data.
    async fn phase(&mut self, index: usize, phase: Phase, end_of_stream: bool) -> Step {
        let active = &self.actives[index];
        let (slot, id, generation) = (active.slot.clone(), active.id, active.generation);
        let (result, fail_open, plugin) = {
            let mut s = slot.borrow_mut();
            if s.generation != generation {
                // The VM crashed earlier in this request: skip it if it fails open.
                return if s.plugin.spec.fail_open {
                    Step::Continue
                } else {
                    failed()
                };
            }
            if let Some(stream) = s.vm.stream_mut(id) {
                self.swap_headers(stream);
            }
            let result = match phase {
                Phase::RequestHeaders => s.vm.on_request_headers(id, end_of_stream),
                Phase::RequestBody => s.vm.on_request_body(id, end_of_stream),
                Phase::ResponseHeaders => s.vm.on_response_headers(id, end_of_stream),
                Phase::ResponseBody => s.vm.on_response_body(id, end_of_stream),
            };
            let result = match result {
                Ok(PhaseOutcome::Pause { action }) if holds_data(phase, action, end_of_stream) => {
                    Ok(Ok(None))
                }
                Ok(PhaseOutcome::Pause { .. }) => Ok(Err(s.wait(id))),
                Ok(outcome) => Ok(Ok(Some(outcome))),
                Err(e) => Err(e),
            };
            if !matches!(result, Ok(Err(_))) {
                if let Some(stream) = s.vm.stream_mut(id) {
                    self.swap_headers(stream);
                }
            }
            if let Err(e) = &result {
                s.recover(e);
            }
            // The plugin (an Arc) names it in messages; no per-phase copy of its name.
            (result, s.plugin.spec.fail_open, s.plugin.clone())
        };
        match result {
            Ok(Ok(Some(outcome))) => outcome_step(outcome, &plugin.spec.name),
            Ok(Ok(None)) => Step::Held,
            Ok(Err(waiter)) => {
                self.wait(&slot, id, generation, waiter, &plugin.spec.name)
                    .await
            }
            Err(e) => self.crashed(e, fail_open),
        }
    }

    /// Moves the request and response headers into a plugin's stream, or back out.
    fn swap_headers(&mut self, stream: &mut wasmgate_host::stream::HttpStream) {
        std::mem::swap(&mut self.request_headers, &mut stream.request_headers);
        std::mem::swap(&mut self.response_headers, &mut stream.response_headers);
    }

    async fn wait(
        &mut self,
        slot: &SlotRef,
        id: u32,
        generation: u64,
        waiter: oneshot::Receiver<StreamSignal>,
        name: &str,
    ) -> Step {
        let timeout = self.worker.config.pause_timeout;
        let signal = tokio::time::timeout(timeout, waiter).await;
        let mut s = slot.borrow_mut();
        if s.generation == generation {
            s.forget(id);
            if let Some(stream) = s.vm.stream_mut(id) {
                self.swap_headers(stream);
            }
        }
        match signal {
            Ok(Ok(StreamSignal::ResumeRequest | StreamSignal::ResumeResponse)) => Step::Continue,
            Ok(Ok(StreamSignal::LocalReply(reply))) => Step::Reply(reply),
            Ok(Ok(StreamSignal::Close)) => closed(name),
            Ok(Err(_)) => failed(),
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
            failed()
        }
    }

    /// Passes one chunk through the body phases of the plugins in `order`. Returns the data
    /// that leaves the last one and whether any plugin changed or held it, or `None` while a
    /// plugin holds it. A plugin holding more than the body limit fails the request.
    async fn body_chunk(
        &mut self,
        phase: Phase,
        order: &[usize],
        chunk: Bytes,
        eos: bool,
    ) -> Result<Option<(Vec<u8>, bool)>, Step> {
        let original = chunk.clone();
        let mut data = chunk.to_vec();
        let limit = self
            .route
            .as_ref()
            .and_then(|r| r.buffer_limit)
            .unwrap_or(self.worker.config.body_limit);
        for &index in order {
            let active = &self.actives[index];
            let (slot, id, generation) = (active.slot.clone(), active.id, active.generation);
            {
                let mut s = slot.borrow_mut();
                if s.generation != generation {
                    if s.plugin.spec.fail_open {
                        continue;
                    }
                    return Err(failed());
                }
                if let Some(buffer) = s.vm.stream_mut(id).map(|st| body_buffer(st, phase)) {
                    buffer.extend_from_slice(&data);
                }
            }
            match self.phase(index, phase, eos).await {
                Step::Continue => {
                    let mut s = slot.borrow_mut();
                    data =
                        s.vm.stream_mut(id)
                            .map(|st| std::mem::take(body_buffer(st, phase)))
                            .unwrap_or(data);
                }
                Step::Held => {
                    let held = slot
                        .borrow_mut()
                        .vm
                        .stream_mut(id)
                        .map(|st| body_buffer(st, phase).len())
                        .unwrap_or(0);
                    if held > limit {
                        return Err(if phase.is_request() {
                            Step::Fail(
                                http::StatusCode::PAYLOAD_TOO_LARGE,
                                "request body too large".into(),
                            )
                        } else {
                            Step::Fail(
                                http::StatusCode::INTERNAL_SERVER_ERROR,
                                "response body too large".into(),
                            )
                        });
                    }
                    return Ok(None);
                }
                step => return Err(step),
            }
        }
        let changed = data.as_slice() != original.as_ref();
        Ok(Some((data, changed)))
    }

    /// Sends the request head upstream with the first released body data. When that data
    /// is the whole body its length is known; when a plugin changed it mid-stream, the
    /// original `content-length` no longer holds and the body goes chunked.
    fn start_upstream(
        &mut self,
        endpoint: &Endpoint,
        first: Vec<u8>,
        complete: bool,
        changed: bool,
    ) -> Upstream {
        let headers = &self.request_headers;
        let path = convert::pseudo(headers, ":path").unwrap_or("/");
        let method = convert::pseudo(headers, ":method").unwrap_or("GET");
        let uri = endpoint.uri(path);
        let mut out = convert::http_headers(headers);
        strip_hop_by_hop(&mut out);
        let rewrite = self.route.as_ref().and_then(|r| r.host_rewrite.as_deref());
        if let Some(host) = rewrite
            .or_else(|| convert::pseudo(headers, ":authority"))
            .and_then(|a| http::HeaderValue::from_str(a).ok())
        {
            out.insert(http::header::HOST, host);
        }
        let (sender, body) = if complete {
            // The whole body is known: its length is exact; an empty one keeps a
            // `content-length: 0` when the client sent one or the method carries a body, as
            // Envoy's HTTP/1 encoder does.
            let carries_body = matches!(method, "POST" | "PUT" | "PATCH");
            if out.remove(http::header::CONTENT_LENGTH).is_some()
                || !first.is_empty()
                || carries_body
            {
                out.insert(
                    http::header::CONTENT_LENGTH,
                    http::HeaderValue::from(first.len()),
                );
            }
            (None, full(first))
        } else {
            if changed {
                out.remove(http::header::CONTENT_LENGTH);
            }
            let (tx, body) = channel();
            if !first.is_empty() && tx.try_send(Ok(Bytes::from(first))).is_err() {
                tracing::warn!(request_id = %self.request_id, "the upstream body channel refused the first chunk");
            }
            (Some(tx), body)
        };
        let request = http::Request::builder().method(method).uri(&uri).body(body);
        let client = self.worker.client.clone();
        let exchange = tokio::task::spawn_local(async move {
            let mut request =
                request.map_err(|e| (format!("the request is not valid HTTP: {e}"), TERMINATED))?;
            *request.headers_mut() = out;
            client
                .request(request)
                .await
                .map_err(|e| (with_causes(&e), reset_reason(&e)))
        });
        Upstream { sender, exchange }
    }

    /// Waits for the upstream's response head (within the route's timeout) and sends the
    /// response through the plugins; a failure becomes the local reply Envoy would send.
    async fn await_upstream(
        &mut self,
        upstream: Upstream,
        route: &RouteSpec,
        address: &str,
    ) -> Outcome {
        drop(upstream.sender);
        let seen = self.actives.len();
        match tokio::time::timeout(route.timeout, upstream.exchange).await {
            Ok(Ok(Ok(response))) => {
                let (parts, body) = response.into_parts();
                self.response_headers = convert::response_map(parts.status, &parts.headers);
                self.set_stream_facts("via_upstream", Some(address));
                self.response_phases(seen, Source::incoming(body)).await
            }
            Ok(Ok(Err((e, reason)))) => {
                tracing::warn!(request_id = %self.request_id, "upstream {address}: {e}");
                self.set_stream_facts("upstream_reset_before_response_started", None);
                let reply = reply(http::StatusCode::SERVICE_UNAVAILABLE, &reset_body(reason));
                self.local_reply(reply, seen).await
            }
            Ok(Err(join)) => {
                tracing::error!(request_id = %self.request_id, "upstream task failed: {join}");
                Outcome::Direct(plain(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                ))
            }
            Err(_) => {
                self.set_stream_facts("upstream_response_timeout", None);
                self.local_reply(
                    reply(
                        http::StatusCode::GATEWAY_TIMEOUT,
                        "upstream request timeout",
                    ),
                    seen,
                )
                .await
            }
        }
    }

    /// The route the request's `:authority` and `:path` match now.
    fn matching_route(&self) -> Option<RouteRef> {
        let host = convert::pseudo(&self.request_headers, ":authority").unwrap_or("");
        let path = convert::pseudo(&self.request_headers, ":path").unwrap_or("/");
        let config = &self.worker.config;
        config.route_index(host, path).map(|index| RouteRef {
            config: config.clone(),
            index,
        })
    }

    /// Runs `f` on the stream of every plugin whose VM still holds it.
    fn each_stream(&self, mut f: impl FnMut(&mut wasmgate_host::stream::HttpStream)) {
        for active in &self.actives {
            let mut s = active.slot.borrow_mut();
            if s.generation == active.generation {
                if let Some(stream) = s.vm.stream_mut(active.id) {
                    f(stream);
                }
            }
        }
    }

    /// Whether the plugin of `actives[index]` changed the request headers with route
    /// clearing on.
    fn clears_route(&self, index: usize) -> bool {
        let active = &self.actives[index];
        let mut s = active.slot.borrow_mut();
        s.generation == active.generation
            && s.vm
                .stream_mut(active.id)
                .is_some_and(|stream| stream.clears_route)
    }

    /// Matches the route again; when it changed, the plugins' `route_name` and
    /// `cluster_name` follow.
    fn rematch_route(&mut self, info: &mut StreamInfo) {
        let route = self.matching_route();
        if route.as_ref().map(|r| r.index) == self.route.as_ref().map(|r| r.index) {
            return;
        }
        self.route = route;
        let name = self.route.as_ref().map(|r| Arc::from(r.name.as_str()));
        let cluster = self.route.as_ref().map(|r| Arc::from(r.cluster.as_str()));
        info.route_name = name.clone();
        info.cluster_name = cluster.clone();
        self.each_stream(|stream| {
            stream.info.route_name = name.clone();
            stream.info.cluster_name = cluster.clone();
        });
    }

    /// Counts request body bytes received in every plugin's stream (`request.size`).
    fn count_request_bytes(&self, bytes: u64) {
        self.each_stream(|stream| stream.info.request_body_bytes += bytes);
    }

    fn set_code_details(&self, details: &str) {
        self.set_stream_facts(details, None);
    }

    /// Sets `response.code_details` (and `upstream.address`) in every plugin's stream.
    fn set_stream_facts(&self, details: &str, upstream: Option<&str>) {
        self.each_stream(|stream| {
            stream.info.response_code_details = Some(details.to_string());
            if let Some(address) = upstream {
                stream.info.upstream_address = Some(address.to_string());
            }
        });
    }

    /// Answers with a local reply, through the response phases of the first `seen` plugins.
    async fn local_reply(&mut self, reply: LocalReply, seen: usize) -> Outcome {
        let mut headers = HeaderMap::new();
        headers.add(b":status", reply.status.to_string().as_bytes());
        headers.pairs.extend(reply.headers.pairs);
        if !reply.body.is_empty() && headers.get(b"content-type").is_none() {
            headers.add(b"content-type", b"text/plain");
        }
        self.response_headers = headers;
        self.response_phases(seen, Source::fixed(reply.body)).await
    }

    /// Response headers through the first `seen` plugins, in reverse order.
    async fn response_phases(&mut self, seen: usize, source: Source) -> Outcome {
        let seen = seen.min(self.actives.len());
        for index in (0..seen).rev() {
            match self
                .phase(index, Phase::ResponseHeaders, source.is_empty())
                .await
            {
                Step::Continue | Step::Held => {}
                Step::Reply(reply) => return Outcome::Direct(reply_response(reply)),
                Step::Fail(status, message) => return Outcome::Direct(plain(status, &message)),
            }
        }
        Outcome::Respond { seen, source }
    }

    /// Streams the response body through the plugins' body phases and to the client. The
    /// head goes out with the first released data (its length known when that is the whole
    /// body). Returns the status the client got.
    async fn stream_response(
        &mut self,
        seen: usize,
        mut source: Source,
        head_tx: oneshot::Sender<http::Response<Body>>,
    ) -> http::StatusCode {
        let order: Vec<usize> = (0..seen).rev().collect();
        let mut head_tx = Some(head_tx);
        let mut status = http::StatusCode::INTERNAL_SERVER_ERROR;
        let mut body_tx: Option<mpsc::Sender<Result<Bytes, BodyError>>> = None;
        while let Some(next) = source.next().await {
            let (chunk, eos) = match next {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(request_id = %self.request_id, "upstream body: {e}");
                    if let Some(tx) = &body_tx {
                        let _ = tx.send(Err(e.into())).await;
                    }
                    break;
                }
            };
            match self
                .body_chunk(Phase::ResponseBody, &order, chunk, eos)
                .await
            {
                Ok(Some((data, changed))) => match (head_tx.take(), &body_tx) {
                    (Some(head), _) => {
                        let response = self.head_response(data, eos, changed, &mut body_tx);
                        status = response.status();
                        let _ = head.send(response);
                    }
                    (None, Some(tx)) => {
                        if !data.is_empty() && tx.send(Ok(Bytes::from(data))).await.is_err() {
                            break;
                        }
                    }
                    (None, None) => {}
                },
                Ok(None) => {}
                Err(step) => {
                    let response = match step {
                        Step::Reply(reply) => reply_response(reply),
                        Step::Fail(code, message) => plain(code, &message),
                        _ => continue,
                    };
                    match head_tx.take() {
                        Some(head) => {
                            status = response.status();
                            let _ = head.send(finish_head(response, self.head, true));
                        }
                        None => {
                            if let Some(tx) = &body_tx {
                                let _ = tx.send(Err("a plugin stopped the response".into())).await;
                            }
                        }
                    }
                    break;
                }
            }
            if eos {
                break;
            }
        }
        if let Some(head) = head_tx.take() {
            let response = self.head_response(Vec::new(), true, false, &mut body_tx);
            status = response.status();
            let _ = head.send(response);
        }
        status
    }

    /// The response head with its first data: the whole body, or the start of a stream.
    fn head_response(
        &mut self,
        data: Vec<u8>,
        complete: bool,
        changed: bool,
        body_tx: &mut Option<mpsc::Sender<Result<Bytes, BodyError>>>,
    ) -> http::Response<Body> {
        // The headers stay: each plugin's `on_log` reads them.
        let headers = &self.response_headers;
        let status = convert::pseudo(headers, ":status")
            .and_then(|s| s.parse::<u16>().ok())
            .and_then(|s| http::StatusCode::from_u16(s).ok())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let body = if complete {
            full(data)
        } else {
            let (tx, body) = channel();
            if !data.is_empty() && tx.try_send(Ok(Bytes::from(data))).is_err() {
                tracing::warn!(request_id = %self.request_id, "the response body channel refused the first chunk");
            }
            *body_tx = Some(tx);
            body
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = convert::http_headers(headers);
        finish_head(response, self.head, complete || changed)
    }

    /// Ends every plugin stream of the request (`on_log`, `on_done`, `on_delete`), keeping
    /// their `custom_log` attributes for the access log. Each plugin's `on_log` reads the
    /// request and response headers, as in Envoy.
    fn finish(&mut self) {
        let actives = std::mem::take(&mut self.actives);
        for active in actives {
            let mut s = active.slot.borrow_mut();
            if s.generation != active.generation {
                continue;
            }
            s.forget(active.id);
            let Some(stream) = s.vm.stream_mut(active.id) else {
                continue;
            };
            self.swap_headers(stream);
            match s.vm.finish_stream(active.id) {
                Ok(Some(mut stream)) => {
                    self.swap_headers(&mut stream);
                    // Read after `on_log`, where plugins write their access-log attributes.
                    if let Some(custom) = stream.property("custom_log") {
                        log::merge_custom_log(&mut self.custom_log, custom);
                    }
                }
                Ok(None) => {}
                // The headers went with the failed stream: later plugins log without them.
                Err(e) => {
                    tracing::error!(request_id = %self.request_id, "{e}");
                    s.recover(&e);
                }
            }
        }
    }
}

/// The request sent upstream: the rest of its body goes through `sender`.
struct Upstream {
    sender: Option<mpsc::Sender<Result<Bytes, BodyError>>>,
    /// The response head, or why there is none (a message and Envoy's reset reason).
    exchange: tokio::task::JoinHandle<Result<http::Response<Incoming>, (String, &'static str)>>,
}

impl Upstream {
    async fn send(&mut self, data: Vec<u8>) {
        if let Some(tx) = &self.sender {
            if !data.is_empty() && tx.send(Ok(Bytes::from(data))).await.is_err() {
                // The upstream stopped reading; its answer (or error) tells the rest.
                self.sender = None;
            }
        }
    }
}

/// Whether a stop lets data keep flowing to the plugin instead of waiting for a resume: a
/// body phase before the end of the stream, or request headers stopped with Higress's
/// `StopIteration` (the headers wait; the body still comes to this plugin).
fn holds_data(phase: Phase, action: u32, end_of_stream: bool) -> bool {
    !end_of_stream
        && (phase.is_body()
            || (phase == Phase::RequestHeaders && action == HeaderAction::StopIteration.raw()))
}

fn body_buffer(stream: &mut wasmgate_host::stream::HttpStream, phase: Phase) -> &mut Vec<u8> {
    if phase.is_request() {
        &mut stream.request_body
    } else {
        &mut stream.response_body
    }
}

fn outcome_step(outcome: PhaseOutcome, name: &str) -> Step {
    match outcome {
        PhaseOutcome::Continue | PhaseOutcome::Pause { .. } => Step::Continue,
        PhaseOutcome::LocalReply(reply) => Step::Reply(reply),
        PhaseOutcome::Close => closed(name),
    }
}

/// A plugin that crashed (or could not start its stream) fails the request as Envoy's
/// wasm filter does: 503 with no body. The log line says which plugin and why.
const PLUGIN_FAILED: http::StatusCode = http::StatusCode::SERVICE_UNAVAILABLE;

fn failed() -> Step {
    Step::Fail(PLUGIN_FAILED, String::new())
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

/// A local reply sent from a response phase, straight to the client. Like Envoy, a body
/// without a `content-type` is marked `text/plain`.
fn reply_response(reply: LocalReply) -> http::Response<Body> {
    let typed = reply.body.is_empty() || reply.headers.get(b"content-type").is_some();
    let mut response = http::Response::new(full(reply.body));
    *response.status_mut() = http::StatusCode::from_u16(reply.status as u16)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    *response.headers_mut() = convert::http_headers(&reply.headers);
    if !typed {
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
    }
    response
}

fn plain(status: http::StatusCode, body: &str) -> http::Response<Body> {
    let mut response = http::Response::new(full(body.to_string()));
    *response.status_mut() = status;
    if !body.is_empty() {
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain"),
        );
    }
    response
}

/// Drops framing headers hyper sets itself. When the body was complete or changed, its
/// `content-length` is recomputed (hyper frames the body it sends), except for HEAD, whose
/// length describes a GET.
fn finish_head(
    mut response: http::Response<Body>,
    head: bool,
    reframe: bool,
) -> http::Response<Body> {
    let headers = response.headers_mut();
    headers.remove(http::header::TRANSFER_ENCODING);
    headers.remove(http::header::CONNECTION);
    if reframe && !head {
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
