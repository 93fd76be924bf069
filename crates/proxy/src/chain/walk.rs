//! [`Walk`]: one request on its way through the plugins: the worker's generation it runs on,
//! the plugins' streams, the route it took and the facts the plugins read about it.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use wasmgate_host::StreamInfo;

use super::streams::Streams;
use crate::config::{GatewayConfig, RouteSpec};
use crate::edge::connection::Connection;
use crate::worker::serving::Worker;

/// The route a request took: a place in the worker's config, shared rather than copied per
/// request.
#[derive(Clone)]
pub(crate) struct RouteRef {
    config: Arc<GatewayConfig>,
    index: usize,
}

impl RouteRef {
    /// The route's place in the configuration's `routes`.
    pub(crate) fn index(&self) -> usize {
        self.index
    }
}

impl std::ops::Deref for RouteRef {
    type Target = RouteSpec;

    fn deref(&self) -> &RouteSpec {
        &self.config.routes[self.index]
    }
}

/// One request's walk.
pub(crate) struct Walk {
    pub(crate) worker: Rc<Worker>,
    pub(crate) streams: Streams,
    /// A HEAD request (its response's length describes a GET).
    pub(crate) head: bool,
    /// A gRPC request (by the client's `content-type`): the gateway's replies to it are
    /// trailers-only gRPC responses.
    pub(crate) grpc: bool,
    /// The client speaks HTTP/2: response trailers go to it.
    pub(crate) downstream_http2: bool,
    pub(crate) route: Option<RouteRef>,
    /// The endpoint the request went to.
    pub(crate) upstream: Option<String>,
    /// The protocol the request asks to upgrade to (`websocket`), if any.
    pub(crate) upgrade: Option<String>,
    /// The upstream's side of the tunnel, when it answered an upgrade with `101`.
    pub(crate) upstream_tunnel: Option<hyper::upgrade::OnUpgrade>,
}

impl Walk {
    /// The route the request's head (`:authority`, `:path`, `:method`, headers) matches now.
    pub(crate) fn matching_route(&self) -> Option<RouteRef> {
        let config = &self.worker.config;
        config
            .route_index(&self.streams.headers.request)
            .map(|index| RouteRef {
                config: config.clone(),
                index,
            })
    }

    /// Matches the route again; when it changed, the plugins' `route_name` and
    /// `cluster_name` follow.
    pub(crate) async fn rematch_route(&mut self, info: &mut StreamInfo) {
        let route = self.matching_route();
        if route.as_ref().map(|r| r.index) == self.route.as_ref().map(|r| r.index) {
            return;
        }
        self.route = route;
        let name = self.route.as_ref().map(|r| Arc::from(r.name.as_str()));
        let cluster = self.route.as_ref().map(|r| Arc::from(r.cluster.as_str()));
        info.route_name = name.clone();
        info.cluster_name = cluster.clone();
        self.streams
            .each_stream(|stream| {
                stream.info.route_name = name.clone();
                stream.info.cluster_name = cluster.clone();
            })
            .await;
    }

    /// What a new plugin stream of this request starts with.
    pub(crate) fn stream_info(&self, connection: &Connection) -> StreamInfo {
        StreamInfo {
            route_name: self.route.as_ref().map(|r| r.name.as_str().into()),
            cluster_name: self.route.as_ref().map(|r| r.cluster.as_str().into()),
            source_address: Some(connection.remote.to_string().into()),
            destination_address: Some(connection.local.to_string().into()),
            connection_id: connection.id,
            protocol: Some(connection.protocol.into()),
            upstream_address: None,
            response_code_details: None,
            start_time_nanos: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0),
            request_body_bytes: 0,
            tls: connection.tls.clone(),
        }
    }

    /// The most body data a plugin may hold for this request.
    pub(crate) fn body_limit(&self) -> usize {
        self.route
            .as_ref()
            .and_then(|r| r.buffer_limit)
            .unwrap_or(self.worker.config.body_limit)
    }

    /// Counts request body bytes received in every plugin's stream (`request.size`).
    pub(crate) async fn count_request_bytes(&self, bytes: u64) {
        self.streams
            .each_stream(|stream| stream.info.request_body_bytes += bytes)
            .await;
    }

    /// Sets `response.code_details` in every plugin's stream.
    pub(crate) async fn set_code_details(&self, details: &str) {
        self.set_stream_facts(details, None).await;
    }

    /// Sets `response.code_details` (and `upstream.address`) in every plugin's stream.
    pub(crate) async fn set_stream_facts(&self, details: &str, upstream: Option<&str>) {
        self.streams
            .each_stream(|stream| {
                stream.info.response_code_details = Some(details.to_string());
                if let Some(address) = upstream {
                    stream.info.upstream_address = Some(address.to_string());
                }
            })
            .await;
    }
}
