//! One HTTP callout: the request a plugin built, sent to its cluster's endpoint within the
//! plugin's timeout; a failure reaches the plugin as the local reply Envoy's router sends.

use std::time::Duration;

use http_body_util::BodyExt;
use wasmgate_host::{HttpCallout, HttpCalloutResponse};

use crate::body::full;
use crate::headers;
use crate::upstream::client::Client;
use crate::upstream::reset::{reset_body, TERMINATED};
use crate::upstream::Endpoint;

/// Performs the call; `None` when the plugin's request is not valid HTTP.
pub(crate) async fn http_call(
    client: &Client,
    call: HttpCallout,
    endpoint: &Endpoint,
) -> Option<HttpCalloutResponse> {
    let path = headers::pseudo(&call.headers, ":path")
        .unwrap_or("/")
        .to_string();
    let method = headers::pseudo(&call.headers, ":method")
        .unwrap_or("GET")
        .to_string();
    let authority = headers::pseudo(&call.headers, ":authority")
        .unwrap_or(&endpoint.address)
        .to_string();
    let uri = endpoint.uri(&path);
    let mut request = http::Request::builder().method(method.as_str()).uri(&uri);
    if let Some(headers) = request.headers_mut() {
        *headers = headers::http_headers(&call.headers);
        if let Ok(host) = http::HeaderValue::from_str(&authority) {
            headers.insert(http::header::HOST, host);
        }
    }
    let request = match request.body(full(call.body)) {
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
            .send(endpoint, request)
            .await
            .map_err(|reset| (reset.message, reset.reason))?;
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
            headers: headers::response_map(parts.status, &parts.headers),
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
