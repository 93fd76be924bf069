//! The response side of the walk: the response headers through the plugins in reverse order,
//! then the body through their body phases and on to the client as it arrives; local replies
//! take the same way back through the plugins that saw the request, as in Envoy.

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use wasmgate_host::LocalReply;

use super::reply::{finish_head, plain, reply_headers, reply_response, status_of};
use super::source::Source;
use super::step::{Phase, Step, Stop};
use super::streams::Passage;
use super::walk::Walk;
use crate::body::{channel, full, Body, BodyError};
use crate::headers;

/// Where the walk goes after the request side.
pub(crate) enum Answer {
    /// The response headers went through the plugins; the body comes from the source
    /// through the body phases of the first `seen` plugins.
    Respond { seen: usize, source: Source },
    /// Answer with this, no more phases.
    Direct(http::Response<Body>),
}

impl Walk {
    /// The answer of a stopped request: a local reply through the response phases of every
    /// plugin that saw the request, or the gateway's own answer.
    pub(crate) async fn stopped(&mut self, stop: Stop) -> Answer {
        match stop {
            Stop::Reply(reply) => self.local_reply(reply, self.streams.len()).await,
            Stop::Fail(status, message) => Answer::Direct(plain(status, &message)),
        }
    }

    /// Answers with a local reply, through the response phases of the first `seen` plugins.
    pub(crate) async fn local_reply(&mut self, mut reply: LocalReply, seen: usize) -> Answer {
        self.streams.headers.response = reply_headers(&mut reply);
        self.response_phases(seen, Source::fixed(reply.body)).await
    }

    /// Response headers through the first `seen` plugins, in reverse order.
    pub(crate) async fn response_phases(&mut self, seen: usize, source: Source) -> Answer {
        let seen = seen.min(self.streams.len());
        for index in (0..seen).rev() {
            match self
                .streams
                .phase(index, Phase::ResponseHeaders, source.is_empty())
                .await
            {
                Step::Continue | Step::Held => {}
                Step::Stop(Stop::Reply(reply)) => return Answer::Direct(reply_response(reply)),
                Step::Stop(Stop::Fail(status, message)) => {
                    return Answer::Direct(plain(status, &message))
                }
            }
        }
        Answer::Respond { seen, source }
    }

    /// Streams the response body through the plugins' body phases and to the client. The
    /// head goes out with the first released data (its length known when that is the whole
    /// body). Returns the status the client got.
    pub(crate) async fn stream_response(
        &mut self,
        seen: usize,
        mut source: Source,
        head_tx: oneshot::Sender<http::Response<Body>>,
    ) -> http::StatusCode {
        let order: Vec<usize> = (0..seen).rev().collect();
        let limit = self.body_limit();
        let mut head_tx = Some(head_tx);
        let mut status = http::StatusCode::INTERNAL_SERVER_ERROR;
        let mut body_tx: Option<mpsc::Sender<Result<Bytes, BodyError>>> = None;
        while let Some(next) = source.next().await {
            let (chunk, eos) = match next {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(request_id = %self.streams.request_id(), "upstream body: {e}");
                    if let Some(tx) = &body_tx {
                        let _ = tx.send(Err(e.into())).await;
                    }
                    break;
                }
            };
            let passage = self
                .streams
                .body_chunk(Phase::ResponseBody, &order, chunk, eos, limit)
                .await;
            match passage {
                Passage::Released { data, changed } => match (head_tx.take(), &body_tx) {
                    (Some(head), _) => {
                        let response = self.head_response(data, eos, changed, &mut body_tx);
                        status = response.status();
                        let _ = head.send(response);
                    }
                    (None, Some(tx)) => {
                        if !data.is_empty() && tx.send(Ok(Bytes::from(data))).await.is_err() {
                            break;
                        }
                    }
                    (None, None) => {}
                },
                Passage::Held => {}
                Passage::Stopped(stop) => {
                    let response = match stop {
                        Stop::Reply(reply) => reply_response(reply),
                        Stop::Fail(code, message) => plain(code, &message),
                    };
                    match head_tx.take() {
                        Some(head) => {
                            status = response.status();
                            let _ = head.send(finish_head(response, self.head, true));
                        }
                        None => {
                            if let Some(tx) = &body_tx {
                                let _ = tx.send(Err("a plugin stopped the response".into())).await;
                            }
                        }
                    }
                    break;
                }
            }
            if eos {
                break;
            }
        }
        if let Some(head) = head_tx.take() {
            let response = self.head_response(Vec::new(), true, false, &mut body_tx);
            status = response.status();
            let _ = head.send(response);
        }
        status
    }

    /// The response head with its first data: the whole body, or the start of a stream.
    fn head_response(
        &mut self,
        data: Vec<u8>,
        complete: bool,
        changed: bool,
        body_tx: &mut Option<mpsc::Sender<Result<Bytes, BodyError>>>,
    ) -> http::Response<Body> {
        // The headers stay: each plugin's `on_log` reads them.
        let map = &self.streams.headers.response;
        let body = if complete {
            full(data)
        } else {
            let (tx, body) = channel();
            if !data.is_empty() && tx.try_send(Ok(Bytes::from(data))).is_err() {
                tracing::warn!(request_id = %self.streams.request_id(), "the response body channel refused the first chunk");
            }
            *body_tx = Some(tx);
            body
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = status_of(map);
        *response.headers_mut() = headers::http_headers(map);
        finish_head(response, self.head, complete || changed)
    }
}
