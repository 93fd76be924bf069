//! Upgrade requests at the edge, as Envoy's codecs and connection manager see them: an
//! HTTP/1.1 request with `connection: upgrade` and an `upgrade` header (except `h2c`, which
//! Envoy drops as an ordinary hop-by-hop header), or an HTTP/2 extended CONNECT (RFC 8441,
//! `:protocol`), which the plugins see as the HTTP/1.1 upgrade it stands for (`:method GET`,
//! `upgrade: <protocol>`, `connection: upgrade`). The client's side of the tunnel comes from
//! hyper once the answer went out: a `101`, which over HTTP/2 becomes a `200` without the
//! connection headers. A refused upgrade (any other answer) closes an HTTP/1.1 connection
//! after the answer, as Envoy does: the client may already have sent tunnel bytes.

use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use wasmgate_host::HeaderMap;

use super::open::Hold;

/// How a request asks for an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    /// HTTP/1.1 `connection: upgrade` and `upgrade: <protocol>`.
    Http1,
    /// HTTP/2 extended CONNECT with `:protocol`.
    ExtendedConnect,
}

/// An upgrade a client asked for, on its way through the plugins.
pub(crate) struct Upgrade {
    /// The protocol asked for, lower-cased (`websocket`).
    pub(crate) protocol: String,
    pub(crate) way: Way,
    /// The client's side of the tunnel, once its answer went out.
    pub(crate) client: OnUpgrade,
    /// Keeps the connection counted open while the tunnel runs; says when a drain ends.
    pub(crate) hold: Hold,
}

/// The protocol `request` asks to upgrade to, and how; `None` for an ordinary request.
pub(crate) fn asked<B>(request: &http::Request<B>) -> Option<(String, Way)> {
    if request.method() == http::Method::CONNECT {
        let protocol = request.extensions().get::<hyper::ext::Protocol>()?;
        return Some((protocol.as_str().to_ascii_lowercase(), Way::ExtendedConnect));
    }
    // hyper hands over the connection of HTTP/1.1 upgrades only.
    if request.version() != http::Version::HTTP_11 {
        return None;
    }
    let headers = request.headers();
    let connection_upgrade = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
    let protocol = headers
        .get(http::header::UPGRADE)?
        .to_str()
        .ok()?
        .trim()
        .to_ascii_lowercase();
    (connection_upgrade && !protocol.is_empty() && protocol != "h2c")
        .then_some((protocol, Way::Http1))
}

/// The upgrade `request` asks for, with hyper's promise of the client's side; `hold` keeps
/// the connection counted open while it runs.
pub(crate) fn take(
    request: &mut http::Request<Incoming>,
    hold: impl FnOnce() -> Hold,
) -> Option<Upgrade> {
    let (protocol, way) = asked(request)?;
    Some(Upgrade {
        protocol,
        way,
        client: hyper::upgrade::on(request),
        hold: hold(),
    })
}

/// What the plugins see of an extended CONNECT: the HTTP/1.1 upgrade, as Envoy's HTTP/2
/// codec turns it into (`:method GET`, then `upgrade` and `connection` after the client's
/// headers).
pub(crate) fn as_http1_upgrade(headers: &mut HeaderMap, protocol: &str) {
    headers.replace(b":method", b"GET");
    headers.add(b"upgrade", protocol.as_bytes());
    headers.add(b"connection", b"upgrade");
}

/// The answer as the client gets it: over HTTP/2 a `101` is a `200` without `upgrade` and
/// `connection`; over HTTP/1.1 an answer that is not a `101` closes the connection.
pub(crate) fn answer<B>(way: Option<Way>, mut response: http::Response<B>) -> http::Response<B> {
    let switching = response.status() == http::StatusCode::SWITCHING_PROTOCOLS;
    match way {
        Some(Way::ExtendedConnect) if switching => {
            *response.status_mut() = http::StatusCode::OK;
            let headers = response.headers_mut();
            headers.remove(http::header::UPGRADE);
            headers.remove(http::header::CONNECTION);
        }
        Some(Way::Http1) if !switching => {
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        _ => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> http::Request<()> {
        let mut builder = http::Request::builder().uri("/chat");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("a request")
    }

    #[test]
    fn an_upgrade_needs_the_connection_token_and_is_not_h2c() {
        let ws = asked(&request(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ]));
        assert_eq!(ws, Some(("websocket".into(), Way::Http1)));
        assert_eq!(
            asked(&request(&[
                ("connection", "keep-alive"),
                ("upgrade", "websocket")
            ])),
            None
        );
        assert_eq!(
            asked(&request(&[("connection", "upgrade"), ("upgrade", "h2c")])),
            None
        );
        assert_eq!(asked(&request(&[("connection", "upgrade")])), None);
    }

    #[test]
    fn over_http2_a_101_is_a_200_without_connection_headers() {
        let response = http::Response::builder()
            .status(101)
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .header("sec-websocket-accept", "x")
            .body(())
            .expect("a response");
        let h2 = answer(Some(Way::ExtendedConnect), response);
        assert_eq!(h2.status(), 200);
        let names: Vec<_> = h2.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["sec-websocket-accept"]);
    }

    #[test]
    fn a_refused_http1_upgrade_closes_the_connection() {
        let refused = http::Response::builder()
            .status(403)
            .body(())
            .expect("a response");
        let refused = answer(Some(Way::Http1), refused);
        assert_eq!(refused.headers()["connection"], "close");
        let plain = http::Response::builder()
            .status(403)
            .body(())
            .expect("a response");
        assert!(answer(None, plain).headers().get("connection").is_none());
    }
}
