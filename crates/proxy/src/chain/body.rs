//! Bodies as they stream: the boxed body type the gateway sends (to clients and upstreams),
//! a channel body fed chunk by chunk, and [`Source`], which yields a body's chunks with their
//! end-of-stream flag (a final empty chunk marks the end when the last data frame did not,
//! as Envoy delivers it).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::sync::mpsc;

/// Why a streamed body stopped early.
pub(crate) type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request and response the gateway sends.
pub(crate) type Body = UnsyncBoxBody<Bytes, BodyError>;

/// A complete body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body fed through the returned sender; dropping the sender ends it, sending an error
/// aborts it.
pub(crate) fn channel() -> (mpsc::Sender<Result<Bytes, BodyError>>, Body) {
    let (tx, rx) = mpsc::channel(8);
    (tx, ChannelBody { rx }.boxed_unsync())
}

struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, BodyError>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|chunk| chunk.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

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
    pub(crate) async fn next(&mut self) -> Option<Result<(Bytes, bool), String>> {
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
                            return Some(Err(e.to_string()));
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
