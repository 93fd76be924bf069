//! Answers the gateway makes itself, and the framing of every response head: a plugin's local
//! reply, the gateway's own plain-text replies (404, 503, …), their trailers-only gRPC form
//! for gRPC requests, and the headers hyper frames.

use wasmgate_host::{HeaderMap, LocalReply};

use crate::body::{full, Body};
use crate::{grpc, headers};

/// The gateway's own local reply (no route, no healthy upstream, an upstream reset), which
/// goes back through the plugins' response phases as a plugin's would.
pub(crate) fn reply(status: http::StatusCode, body: &str) -> LocalReply {
    LocalReply {
        status: status.as_u16() as u32,
        details: String::new(),
        body: body.as_bytes().to_vec(),
        headers: HeaderMap::new(),
        grpc_status: None,
    }
}

/// The response headers of a local reply as the plugins see them. Like Envoy, a body without
/// a `content-type` is marked `text/plain`; the reply to a gRPC request is a trailers-only
/// gRPC response, its body the `grpc-message`.
pub(crate) fn reply_headers(reply: &mut LocalReply, grpc: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.add(b":status", reply.status.to_string().as_bytes());
    headers.pairs.append(&mut reply.headers.pairs);
    if grpc {
        let body = std::mem::take(&mut reply.body);
        grpc::trailers_only(&mut headers, reply.status as u16, reply.grpc_status, &body);
    } else if !reply.body.is_empty() && headers.get(b"content-type").is_none() {
        headers.add(b"content-type", b"text/plain");
    }
    headers
}

/// A local reply sent from a response phase, straight to the client, framed as
/// [`reply_headers`] frames it.
pub(crate) fn reply_response(mut reply: LocalReply, grpc: bool) -> http::Response<Body> {
    let map = reply_headers(&mut reply, grpc);
    let mut response = http::Response::new(full(reply.body));
    *response.status_mut() = status_of(&map);
    *response.headers_mut() = headers::http_headers(&map);
    response
}

/// The gateway's answer when it stops a request itself (a plugin failed, a body too large):
/// plain text, or for a gRPC request the trailers-only form.
pub(crate) fn failure_response(
    status: http::StatusCode,
    message: &str,
    grpc: bool,
) -> http::Response<Body> {
    if grpc {
        reply_response(reply(status, message), true)
    } else {
        plain(status, message)
    }
}

/// A plain-text answer (none when `body` is empty).
pub(crate) fn plain(status: http::StatusCode, body: &str) -> http::Response<Body> {
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

/// The status a response header map carries (500 when it carries none that is valid).
pub(crate) fn status_of(map: &HeaderMap) -> http::StatusCode {
    headers::pseudo(map, ":status")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| http::StatusCode::from_u16(s).ok())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
}

/// Drops framing headers hyper sets itself. When the body was complete or changed, its
/// `content-length` is recomputed (hyper frames the body it sends), except for HEAD, whose
/// length describes a GET.
pub(crate) fn finish_head(
    mut response: http::Response<Body>,
    head: bool,
    reframe: bool,
) -> http::Response<Body> {
    // A `101` keeps its `connection: upgrade`: it names the switch.
    let switching = response.status() == http::StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.remove(http::header::TRANSFER_ENCODING);
    if !switching {
        headers.remove(http::header::CONNECTION);
    }
    if reframe && !head {
        headers.remove(http::header::CONTENT_LENGTH);
    }
    response
}
