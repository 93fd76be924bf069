//! [`Source`]: where a body's pieces come from as the plugins see them (a client's or an
//! upstream's body, a local reply's, or what a plugin writes to its open response): data chunks, each with its end-of-stream flag, then
//! the trailers if the message has them. A final empty chunk marks the end when the last data
//! frame did not and no trailers came, as Envoy delivers it. HTTP/1 trailers are dropped, as
//! Envoy's HTTP/1 codec does by default (`enable_trailers` off).

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::open::OpenBody;
use crate::body::BodyError;

/// One piece of a body.
pub(crate) enum Piece {
    /// Data, and whether it ends the message.
    Data(Bytes, bool),
    /// The trailers, which end the message.
    Trailers(http::HeaderMap),
}

/// Where a body's pieces come from.
pub(crate) enum Source {
    /// A body arriving from a client or an upstream; `trailers` when its protocol carries
    /// them on (HTTP/2).
    Incoming {
        body: Incoming,
        done: bool,
        trailers: bool,
    },
    /// A body known whole (a local reply), given once.
    Fixed(Option<Bytes>),
    /// The body a plugin writes to its open response.
    Open(OpenBody),
}

impl Source {
    /// A streamed body; one with nothing in it yields nothing. `http2` when it came over
    /// HTTP/2, whose trailers go on.
    pub(crate) fn incoming(body: Incoming, http2: bool) -> Self {
        let done = hyper::body::Body::is_end_stream(&body);
        Source::Incoming {
            body,
            done,
            trailers: http2,
        }
    }

    /// A whole body; an empty one yields no chunk.
    pub(crate) fn fixed(bytes: Vec<u8>) -> Self {
        Source::Fixed((!bytes.is_empty()).then(|| Bytes::from(bytes)))
    }

    /// Whether nothing will come (the headers are the end of the stream).
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Source::Incoming { done, .. } => *done,
            Source::Fixed(bytes) => bytes.is_none(),
            Source::Open(_) => false,
        }
    }

    /// Whether this is a plugin's open response: its head goes out at once, and it ends
    /// when the client leaves.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self, Source::Open(_))
    }

    /// The next piece; `None` once the end was given.
    pub(crate) async fn next(&mut self) -> Option<Result<Piece, BodyError>> {
        match self {
            Source::Fixed(bytes) => bytes.take().map(|b| Ok(Piece::Data(b, true))),
            Source::Open(body) => body
                .next()
                .await
                .map(|next| next.map(|(data, end)| Piece::Data(data, end))),
            Source::Incoming {
                body,
                done,
                trailers,
            } => {
                if *done {
                    return None;
                }
                loop {
                    match body.frame().await {
                        None => {
                            *done = true;
                            return Some(Ok(Piece::Data(Bytes::new(), true)));
                        }
                        Some(Err(e)) => {
                            *done = true;
                            return Some(Err(e.into()));
                        }
                        Some(Ok(frame)) => match frame.into_data() {
                            Ok(data) => {
                                *done = hyper::body::Body::is_end_stream(body);
                                return Some(Ok(Piece::Data(data, *done)));
                            }
                            Err(frame) => {
                                if let (true, Ok(map)) = (*trailers, frame.into_trailers()) {
                                    *done = true;
                                    return Some(Ok(Piece::Trailers(map)));
                                }
                            }
                        },
                    }
                }
            }
        }
    }
}
