//! [`Source`]: where a body's chunks come from as the plugins see them (a client's or an
//! upstream's body, or a local reply's), each with its end-of-stream flag; a final empty
//! chunk marks the end when the last data frame did not, as Envoy delivers it.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// Where a body's chunks come from.
pub(crate) enum Source {
    /// A body arriving from a client or an upstream.
    Incoming { body: Incoming, done: bool },
    /// A body known whole (a local reply), given once.
    Fixed(Option<Bytes>),
}

impl Source {
    /// A streamed body; one with nothing in it yields no chunk.
    pub(crate) fn incoming(body: Incoming) -> Self {
        let done = hyper::body::Body::is_end_stream(&body);
        Source::Incoming { body, done }
    }

    /// A whole body; an empty one yields no chunk.
    pub(crate) fn fixed(bytes: Vec<u8>) -> Self {
        Source::Fixed((!bytes.is_empty()).then(|| Bytes::from(bytes)))
    }

    /// Whether no chunk will come (the headers are the end of the stream).
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Source::Incoming { done, .. } => *done,
            Source::Fixed(bytes) => bytes.is_none(),
        }
    }

    /// The next chunk and whether it ends the body; `None` once the end was given.
    pub(crate) async fn next(&mut self) -> Option<Result<(Bytes, bool), hyper::Error>> {
        match self {
            Source::Fixed(bytes) => bytes.take().map(|b| Ok((b, true))),
            Source::Incoming { body, done } => {
                if *done {
                    return None;
                }
                loop {
                    match body.frame().await {
                        None => {
                            *done = true;
                            return Some(Ok((Bytes::new(), true)));
                        }
                        Some(Err(e)) => {
                            *done = true;
                            return Some(Err(e));
                        }
                        Some(Ok(frame)) => {
                            // Trailers are not passed on.
                            if let Ok(data) = frame.into_data() {
                                *done = hyper::body::Body::is_end_stream(body);
                                return Some(Ok((data, *done)));
                            }
                        }
                    }
                }
            }
        }
    }
}
