//! A request's walk. Request headers go through each plugin in order; the request body then
//! streams through the plugins' body phases chunk by chunk (its trailers through their
//! trailer phases) (a plugin that stops holds the
//! data, which the next call gives it again with what came since, as Envoy buffers) and on
//! to the upstream; the response headers and body go back through the plugins in reverse.
//! Any phase may pause the request until its plugin resumes it or replies; a local reply
//! goes back through the response phases of the plugins that saw the request, as in Envoy.
//!
//! - `walk`: one request's state: its streams, route and facts.
//! - `request`: the request side: header phases, body phases, the upstream.
//! - `response`: the response side and local replies.
//! - `streams`: the plugins' streams: one phase of one plugin, the header hand-over, body
//!   phases, the end of the streams.
//! - `step`: what a phase did.
//! - `source`: where a body's chunks come from.
//! - `reply`: the gateway's own answers and response framing.
//! - `open`: a plugin's open response: headers at once, the body as the plugin writes it.
//! - `tunnel`: upgrades: the route's say, the splice after a `101`.

mod open;
mod reply;
mod request;
mod response;
mod source;
mod step;
mod streams;
mod tunnel;
mod walk;

use std::rc::Rc;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::access_log::{self, Entry};
use crate::body::Body;
use crate::edge::arrival::Arrival;
use crate::edge::upgrade;
use crate::grpc;
use crate::worker::serving::Worker;
use reply::{finish_head, plain};
use response::Answer;
use source::Source;
use streams::Streams;
use walk::Walk;

/// Serves one request. The walk runs in the request's own future until the response head
/// is ready; a walk with more to do then (a body to stream through the plugins, a tunnel)
/// goes on in a task of its own while the head goes out. Most walks end with their head (a
/// local reply, a body whole in its first chunk), so they cost no task.
pub(crate) async fn handle(worker: Rc<Worker>, arrival: Arrival) -> http::Response<Body> {
    let way = arrival.upgrade.as_ref().map(|u| u.way);
    let (head_tx, mut head_rx) = oneshot::channel();
    // Boxed: the walk's few kilobytes of state then move as a pointer (into a task, too).
    let mut unfinished = Unfinished(Some(Box::pin(walk(worker, arrival, head_tx))));
    let head = tokio::select! {
        biased;
        () = unfinished.walk() => head_rx.try_recv().ok(),
        head = &mut head_rx => {
            unfinished.go_on_alone();
            head.ok()
        }
    };
    let head =
        head.unwrap_or_else(|| plain(http::StatusCode::INTERNAL_SERVER_ERROR, "internal error"));
    upgrade::answer(way, head)
}

type WalkFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// A walk that has not ended. Dropped before it ends (the client left while the request was
/// on its way), it ends in a task of its own: the plugins' streams end (`on_log`,
/// `on_done`) and the access log gets its line, as for every request.
struct Unfinished(Option<WalkFuture>);

impl Unfinished {
    /// Runs the walk to its end.
    async fn walk(&mut self) {
        if let Some(walk) = self.0.as_mut() {
            walk.await;
        }
        self.0 = None;
    }

    /// Lets the rest of the walk run in a task of its own.
    fn go_on_alone(&mut self) {
        if let Some(walk) = self.0.take() {
            tokio::task::spawn_local(walk);
        }
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        self.go_on_alone();
    }
}

/// The walk's main line: the request side, the response side, the tunnel of an upgrade the
/// upstream accepted, the end of the plugins' streams, the metrics and the access log.
async fn walk(
    worker: Rc<Worker>,
    arrival: Arrival,
    head_tx: oneshot::Sender<http::Response<Body>>,
) {
    let started = Instant::now();
    let Arrival {
        parts,
        headers,
        request_id,
        body,
        connection,
        upgrade,
    } = arrival;
    let http2 = parts.version == http::Version::HTTP_2;
    let mut walk = Walk {
        grpc: grpc::is_grpc(&headers),
        downstream_http2: http2,
        streams: Streams::new(headers, request_id, worker.config.pause_timeout),
        worker: worker.clone(),
        head: parts.method == http::Method::HEAD,
        route: None,
        upstream: None,
        upgrade: upgrade.as_ref().map(|u| u.protocol.clone()),
        upstream_tunnel: None,
    };
    // `OPTIONS *` (a request target that is no path) gets Envoy's answer before any plugin
    // sees it: 404 with no body.
    let answer = if parts.uri.path() == "*" {
        walk.set_code_details("route_not_found").await;
        Answer::Direct(plain(http::StatusCode::NOT_FOUND, ""))
    } else {
        walk.request_side(&connection, Source::incoming(body, http2))
            .await
    };
    let status = match answer {
        Answer::Direct(response) => {
            let status = response.status();
            let _ = head_tx.send(finish_head(response, walk.head, true));
            status
        }
        Answer::Respond {
            seen,
            source,
            waiting,
        } => walk.stream_response(seen, waiting, source, head_tx).await,
    };
    let moved = match (upgrade, walk.upstream_tunnel.take()) {
        (Some(upgrade), Some(upstream)) if status == http::StatusCode::SWITCHING_PROTOCOLS => {
            match tunnel::splice(upgrade, upstream).await {
                Ok(moved) => Some(moved),
                Err(why) => {
                    tracing::debug!(request_id = %walk.streams.request_id(), "{why}");
                    Some(tunnel::Moved::default())
                }
            }
        }
        _ => None,
    };
    let plugin_log = walk.streams.finish().await;
    let route = walk.route.as_ref().map(|r| r.name.as_str());
    let counted = walk.route.as_ref().map(|r| (r.index(), r.name.as_str()));
    worker
        .metrics
        .record(counted, status.as_u16(), started.elapsed());
    access_log::write(
        worker.config.access_log,
        &Entry {
            parts: &parts,
            status,
            elapsed: started.elapsed(),
            route,
            upstream: walk.upstream.as_deref(),
            request_id: walk.streams.request_id(),
            plugin_log: &plugin_log,
            tunnel: moved.map(|m| (m.received, m.sent)),
        },
    );
}
