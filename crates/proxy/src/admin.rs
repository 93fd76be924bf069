//! The admin listener: `GET /metrics` (Prometheus text), `/healthz` (the process is up) and
//! `/ready` (200 once every worker serves, 503 before).

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use wasmgate_host::Shared;

use crate::metrics::GatewayMetrics;

/// What the admin endpoints read.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) shared: Shared,
    pub(crate) metrics: Arc<GatewayMetrics>,
    pub(crate) ready: Arc<AtomicBool>,
}

/// Serves the admin endpoints on a thread of their own until `stop` changes.
pub(crate) fn spawn(
    listener: TcpListener,
    state: AdminState,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new().name("wasmgate-admin".into()).spawn(move || {
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            loop {
                tokio::select! {
                    (stream, _) = crate::edge::listener::accept(&listener) => {
                        let state = state.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                                let response = answer(&state, request.uri().path());
                                async move { Ok::<_, std::convert::Infallible>(response) }
                            });
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                        });
                    }
                    _ = stop.changed() => break,
                }
            }
        })
    })
}

fn answer(state: &AdminState, path: &str) -> http::Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/metrics" => (
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            state.metrics.render(&state.shared),
        ),
        "/healthz" => (200, "text/plain", "ok\n".to_string()),
        "/ready" if state.ready.load(Ordering::SeqCst) => {
            (200, "text/plain", "ready\n".to_string())
        }
        "/ready" => (503, "text/plain", "starting\n".to_string()),
        _ => (
            404,
            "text/plain",
            "not found: try /metrics, /healthz or /ready\n".to_string(),
        ),
    };
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    response
}
