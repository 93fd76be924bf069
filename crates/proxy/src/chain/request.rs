//! The request side of the walk: each plugin's request-header phase in order (the route is
//! matched again after a plugin changed the headers), then the body through their body phases
//! chunk by chunk and the trailers through their trailer phases, on to the upstream, and the
//! upstream's answer (within the route's or a gRPC request's time limit) or Envoy's reply for
//! its failure.

use bytes::Bytes;
use wasmgate_host::StreamInfo;

use super::reply::{plain, reply};
use super::response::Answer;
use super::source::{Piece, Source};
use super::step::{failure, Phase, Step, Stop};
use super::streams::{Opened, Passage};
use super::walk::{RouteRef, Walk};
use crate::edge::connection::Connection;
use crate::upstream::request::{Answer as UpstreamAnswer, Framing, UpstreamRequest};
use crate::upstream::reset::{reset_body, reset_status};
use crate::upstream::Endpoint;
use crate::{grpc, headers};

/// How the request-header phases of a run of plugins ended.
enum HeaderPassage {
    /// Every plugin let the headers through.
    Through,
    /// A plugin holds only the headers (Higress's `StopIteration` under `0_2_100`, with a
    /// body to come); the plugins from this slot on open when it releases data.
    HeldBefore(usize),
    /// The request stopped.
    Stopped(Stop),
}

impl Walk {
    /// Runs the request side; the answer is what goes to the response side.
    pub(crate) async fn request_side(
        &mut self,
        connection: &Connection,
        mut body: Source,
    ) -> Answer {
        self.route = self.matching_route();
        if let Some(route) = &self.route {
            // A plugin that never resumes the request gets the route's time limit.
            self.streams.limit_pauses(route.timeout);
        }
        if let Some(refused) = self.refuse_upgrade().await {
            return refused;
        }
        // Only plugins read it: a request with none skips building it.
        let mut info = if self.worker.pools.is_empty() {
            StreamInfo::default()
        } else {
            self.stream_info(connection)
        };
        let mut held_before = match self.header_phases(0, &mut info, body.is_empty()).await {
            HeaderPassage::Through => None,
            HeaderPassage::HeldBefore(slot) => Some(slot),
            HeaderPassage::Stopped(stop) => return self.stopped(stop).await,
        };
        let Some(route) = self.route.clone() else {
            self.set_code_details("route_not_found").await;
            let reply = reply(http::StatusCode::NOT_FOUND, "no route matches this request");
            return self.local_reply(reply, self.streams.len()).await;
        };
        let Some(endpoint) = self.worker.clusters.resolve(&route.cluster) else {
            self.set_code_details("cluster_not_found").await;
            let reply = reply(http::StatusCode::SERVICE_UNAVAILABLE, "no healthy upstream");
            return self.local_reply(reply, self.streams.len()).await;
        };
        self.upstream = Some(endpoint.address.clone());
        let mut upstream: Option<UpstreamRequest> = None;
        let idle_limit = self.worker.config.edge.stream_idle_timeout;
        loop {
            let next = match idle_limit {
                Some(limit) => match tokio::time::timeout(limit, body.next()).await {
                    Ok(next) => next,
                    Err(_) => return self.stream_idle().await,
                },
                None => body.next().await,
            };
            let Some(next) = next else { break };
            let Ok(piece) = next else {
                return Answer::Direct(plain(
                    http::StatusCode::BAD_REQUEST,
                    "cannot read the request body",
                ));
            };
            let (passage, trailers) = match piece {
                Piece::Data(chunk, eos) => {
                    info.request_body_bytes += chunk.len() as u64;
                    self.count_request_bytes(chunk.len() as u64).await;
                    let passage = self
                        .request_chunk(&mut held_before, &mut info, chunk, eos)
                        .await;
                    (passage, eos.then(http::HeaderMap::new))
                }
                Piece::Trailers(map) => {
                    self.streams.headers.request_trailers = headers::trailer_map(&map);
                    let passage = self.request_trailers(&mut held_before, &mut info).await;
                    let trailers = headers::http_headers(&self.streams.headers.request_trailers);
                    (passage, Some(trailers))
                }
            };
            let (data, changed) = match passage {
                Passage::Released { data, changed } => (data, changed),
                Passage::Held => continue,
                Passage::Stopped(stop) => return self.stopped(stop).await,
            };
            let whole = trailers.as_ref().is_some_and(|t| t.is_empty());
            match upstream.as_mut() {
                None => {
                    let framing = if whole {
                        Framing::Whole
                    } else {
                        Framing::Streamed { changed }
                    };
                    upstream = Some(self.start_upstream(&endpoint, data, framing));
                }
                Some(up) => up.send(data).await,
            }
            if let (Some(up), Some(trailers)) = (upstream.as_mut(), trailers) {
                if !trailers.is_empty() {
                    up.send_trailers(trailers).await;
                }
            }
        }
        let upstream =
            upstream.unwrap_or_else(|| self.start_upstream(&endpoint, Vec::new(), Framing::Whole));
        let timeout = self.upstream_timeout(&route);
        self.await_upstream(upstream, timeout, &endpoint.address)
            .await
    }

    /// Envoy's answer to a request whose body stopped for the stream idle timeout.
    async fn stream_idle(&mut self) -> Answer {
        self.set_code_details("stream_idle_timeout").await;
        let reply = reply(http::StatusCode::REQUEST_TIMEOUT, "stream timeout");
        self.local_reply(reply, self.streams.len()).await
    }

    /// The upstream's time limit: the route's, or for a gRPC request on a route with
    /// `grpc_timeout_header_max` the client's `grpc-timeout` (capped), as Envoy's router
    /// takes it. `None` is no limit.
    fn upstream_timeout(&self, route: &RouteRef) -> Option<std::time::Duration> {
        match route.grpc_timeout_header_max {
            Some(max) if self.grpc => grpc::route_timeout(&self.streams.headers.request, max),
            _ => (!route.timeout.is_zero()).then_some(route.timeout),
        }
    }

    /// Opens the streams of the plugins from slot `from` on and runs their request-header
    /// phases.
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
    ) -> HeaderPassage {
        let worker = self.worker.clone();
        for (index, pool) in worker.pools.iter().enumerate().skip(from) {
            match self.streams.open(pool, info).await {
                Opened::Stream => {}
                Opened::Skipped => continue,
                Opened::Failed => return HeaderPassage::Stopped(failure()),
            }
            let last = self.streams.len() - 1;
            let step = self
                .streams
                .phase(last, Phase::RequestHeaders, end_of_stream)
                .await;
            if matches!(step, Step::Continue | Step::Held) && self.streams.clears_route(last).await
            {
                self.rematch_route(info).await;
            }
            match step {
                Step::Continue => {}
                Step::Held => return HeaderPassage::HeldBefore(index + 1),
                Step::Stop(stop) => return HeaderPassage::Stopped(stop),
            }
        }
        HeaderPassage::Through
    }

    /// One request chunk through the body phases of the plugins whose streams are open. A
    /// plugin that held only the headers lets them go on with the first data it releases:
    /// the later plugins' header phases run, then they get the data.
    async fn request_chunk(
        &mut self,
        held_before: &mut Option<usize>,
        info: &mut StreamInfo,
        chunk: Bytes,
        eos: bool,
    ) -> Passage {
        let limit = self.body_limit();
        let order: Vec<usize> = (0..self.streams.len()).collect();
        let mut passage = self
            .streams
            .body_chunk(Phase::RequestBody, &order, chunk, eos, limit)
            .await;
        while let (Passage::Released { data, .. }, Some(from)) = (&passage, *held_before) {
            let data = Bytes::from(data.clone());
            let first_new = self.streams.len();
            *held_before = match self.header_phases(from, info, false).await {
                HeaderPassage::Through => None,
                HeaderPassage::HeldBefore(slot) => Some(slot),
                HeaderPassage::Stopped(stop) => return Passage::Stopped(stop),
            };
            let order: Vec<usize> = (first_new..self.streams.len()).collect();
            passage = match self
                .streams
                .body_chunk(Phase::RequestBody, &order, data, eos, limit)
                .await
            {
                // The data left the plugin that held the headers: it is not the client's.
                Passage::Released { data, .. } => Passage::Released {
                    data,
                    changed: true,
                },
                other => other,
            };
        }
        passage
    }

    /// The request trailers through the trailer phases of the plugins whose streams are
    /// open. A plugin that held only the headers lets them go on with the trailers: the later
    /// plugins' header phases run, then they get the data it released and the trailers.
    async fn request_trailers(
        &mut self,
        held_before: &mut Option<usize>,
        info: &mut StreamInfo,
    ) -> Passage {
        let limit = self.body_limit();
        let order: Vec<usize> = (0..self.streams.len()).collect();
        let mut passage = self
            .streams
            .trailers(Phase::RequestTrailers, &order, Vec::new(), limit)
            .await;
        while let (Passage::Released { data, .. }, Some(from)) = (&passage, *held_before) {
            let data = data.clone();
            let first_new = self.streams.len();
            *held_before = match self.header_phases(from, info, false).await {
                HeaderPassage::Through => None,
                HeaderPassage::HeldBefore(slot) => Some(slot),
                HeaderPassage::Stopped(stop) => return Passage::Stopped(stop),
            };
            let order: Vec<usize> = (first_new..self.streams.len()).collect();
            passage = self
                .streams
                .trailers(Phase::RequestTrailers, &order, data, limit)
                .await;
        }
        passage
    }

    /// Sends the request head upstream with the first released body data.
    fn start_upstream(
        &self,
        endpoint: &Endpoint,
        first: Vec<u8>,
        framing: Framing,
    ) -> UpstreamRequest {
        let rewrite = self.route.as_ref().and_then(|r| r.host_rewrite.as_deref());
        UpstreamRequest::start(
            &self.worker.client,
            endpoint,
            &self.streams.headers.request,
            rewrite,
            first,
            framing,
        )
    }

    /// Waits for the upstream's response head (within the route's timeout) and sends the
    /// response through the plugins; a failure becomes the local reply Envoy would send.
    async fn await_upstream(
        &mut self,
        upstream: UpstreamRequest,
        timeout: Option<std::time::Duration>,
        address: &str,
    ) -> Answer {
        let seen = self.streams.len();
        match upstream.answer(timeout).await {
            UpstreamAnswer::Response(mut response) => {
                if response.status() == http::StatusCode::SWITCHING_PROTOCOLS {
                    self.upstream_tunnel = Some(hyper::upgrade::on(&mut response));
                }
                let (parts, body) = response.into_parts();
                self.streams.headers.response = headers::response_map(parts.status, &parts.headers);
                self.set_stream_facts("via_upstream", Some(address)).await;
                let http2 = parts.version == http::Version::HTTP_2;
                self.response_phases(seen, Source::incoming(body, http2))
                    .await
            }
            UpstreamAnswer::Reset(reset) => {
                tracing::warn!(request_id = %self.streams.request_id(), "upstream {address}: {}", reset.message);
                self.set_stream_facts("upstream_reset_before_response_started", None)
                    .await;
                let reply = reply(reset_status(reset.reason), &reset_body(reset.reason));
                self.local_reply(reply, seen).await
            }
            UpstreamAnswer::Lost(why) => {
                tracing::error!(request_id = %self.streams.request_id(), "upstream task failed: {why}");
                Answer::Direct(plain(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                ))
            }
            UpstreamAnswer::Timeout => {
                self.set_stream_facts("upstream_response_timeout", None)
                    .await;
                let reply = reply(
                    http::StatusCode::GATEWAY_TIMEOUT,
                    "upstream request timeout",
                );
                self.local_reply(reply, seen).await
            }
        }
    }
}
