//! The body type of everything the gateway sends (to clients, upstreams and callout
//! targets): a whole body, or a channel body fed data and trailers as they leave the plugins.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, SizeHint};
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

/// A body fed through the returned sender; dropping the sender ends it.
pub(crate) fn channel() -> (BodySender, Body) {
    let (tx, rx) = mpsc::channel(8);
    (BodySender { tx }, ChannelBody { rx }.boxed_unsync())
}

/// The feeding end of a channel body. Every send says whether the reader is still there.
pub(crate) struct BodySender {
    tx: mpsc::Sender<Result<Frame<Bytes>, BodyError>>,
}

/// The reader of a channel body is gone (the peer closed or reset).
#[derive(Debug)]
pub(crate) struct ReaderGone;

impl BodySender {
    /// Sends data (nothing for an empty chunk).
    pub(crate) async fn data(&self, data: Bytes) -> Result<(), ReaderGone> {
        if data.is_empty() {
            return Ok(());
        }
        self.send(Ok(Frame::data(data))).await
    }

    /// Sends the trailers, which end the body.
    pub(crate) async fn trailers(&self, trailers: http::HeaderMap) -> Result<(), ReaderGone> {
        self.send(Ok(Frame::trailers(trailers))).await
    }

    /// Aborts the body: the peer sees the stream broken, not ended.
    pub(crate) async fn abort(&self, why: BodyError) {
        let _ = self.send(Err(why)).await;
    }

    /// Resolves when the reader is gone (the client left or reset the stream).
    pub(crate) async fn closed(&self) {
        self.tx.closed().await
    }

    /// Queues the first data without waiting (the channel is new, so there is room).
    pub(crate) fn first(&self, data: Bytes) {
        if !data.is_empty() && self.tx.try_send(Ok(Frame::data(data))).is_err() {
            tracing::warn!("a body channel refused its first chunk");
        }
    }

    async fn send(&self, frame: Result<Frame<Bytes>, BodyError>) -> Result<(), ReaderGone> {
        self.tx.send(frame).await.map_err(|_| ReaderGone)
    }
}

struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, BodyError>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
