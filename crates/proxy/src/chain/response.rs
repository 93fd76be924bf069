//! The response side of the walk: the response headers through the plugins in reverse order,
//! then the body through their body phases and the trailers through their trailer phases, on
//! to the client as they arrive; local replies
//! take the same way back through the plugins that saw the request, as in Envoy. A plugin's
//! open response (`chain/open.rs`) goes out at once and its body, as the plugin writes it,
//! through the plugins before it, until it ends or the client leaves.

use bytes::Bytes;
use tokio::sync::oneshot;
use wasmgate_host::LocalReply;

use super::open::OpenBody;
use super::reply::{failure_response, finish_head, reply_headers, reply_response, status_of};
use super::source::{Piece, Source};
use super::step::{Phase, Step, Stop};
use super::streams::Passage;
use super::walk::Walk;
use crate::body::{channel, full, Body, BodyError, BodySender};
use crate::headers;

/// Where the walk goes after the request side.
pub(crate) enum Answer {
    /// The response headers went through the plugins; the body comes from the source
    /// through the body phases of the first `seen` plugins. The first `waiting` of them
    /// have not seen the headers yet: the plugin after them holds the headers (Higress's
    /// `StopIteration` under `0_2_100`, with a body to come) until it releases data.
    Respond {
        seen: usize,
        source: Source,
        waiting: usize,
    },
    /// Answer with this, no more phases.
    Direct(http::Response<Body>),
}

impl Walk {
    /// The answer of a stopped request: a local reply through the response phases of every
    /// plugin that saw the request, or the gateway's own answer.
    pub(crate) async fn stopped(&mut self, stop: Stop) -> Answer {
        match stop {
            Stop::Reply(reply) => match self.streams.open_response().await {
                Some((opener, body)) => self.open_reply(reply, opener, body).await,
                None => self.local_reply(reply, self.streams.len()).await,
            },
            Stop::Fail(status, message) => {
                Answer::Direct(failure_response(status, &message, self.grpc))
            }
        }
    }

    /// Answers with a local reply, through the response phases of the first `seen` plugins.
    pub(crate) async fn local_reply(&mut self, mut reply: LocalReply, seen: usize) -> Answer {
        self.streams.headers.response = reply_headers(&mut reply, self.grpc);
        self.response_phases(seen, Source::fixed(reply.body)).await
    }

    /// Answers with the open response of plugin `opener`: its headers through the response
    /// phases of every plugin that saw the request, as a local reply's; its body, written by
    /// the plugin after itself, through the plugins before it.
    async fn open_reply(&mut self, mut reply: LocalReply, opener: usize, body: OpenBody) -> Answer {
        self.streams.headers.response = reply_headers(&mut reply, self.grpc);
        let seen = self.streams.len();
        match self.response_phases(seen, Source::Open(body)).await {
            Answer::Respond {
                source, waiting, ..
            } => Answer::Respond {
                seen: opener.max(waiting),
                source,
                waiting,
            },
            direct => direct,
        }
    }

    /// Response headers through the first `seen` plugins, in reverse order.
    pub(crate) async fn response_phases(&mut self, seen: usize, source: Source) -> Answer {
        let seen = seen.min(self.streams.len());
        match self.response_header_phases(seen, source.is_empty()).await {
            Ok(waiting) => Answer::Respond {
                seen,
                source,
                waiting,
            },
            Err(Stop::Reply(reply)) => Answer::Direct(reply_response(reply, self.grpc)),
            Err(Stop::Fail(status, message)) => {
                Answer::Direct(failure_response(status, &message, self.grpc))
            }
        }
    }

    /// The response-header phases of the plugins before `upto`, in reverse order, until one
    /// holds the headers: how many are still waiting for them (0: all saw them).
    async fn response_header_phases(
        &mut self,
        upto: usize,
        end_of_stream: bool,
    ) -> Result<usize, Stop> {
        for index in (0..upto).rev() {
            match self
                .streams
                .phase(index, Phase::ResponseHeaders, end_of_stream)
                .await
            {
                Step::Continue => {}
                Step::Held => return Ok(index),
                Step::Stop(stop) => return Err(stop),
            }
        }
        Ok(0)
    }

    /// One response chunk through the body phases of the plugins that saw the headers. Data
    /// released past the plugin that held the headers lets them go on: the waiting plugins'
    /// header phases run, then they get the data.
    async fn response_chunk(
        &mut self,
        order: &Descending,
        seen: usize,
        waiting: &mut usize,
        chunk: Bytes,
        eos: bool,
    ) -> Passage {
        let limit = self.body_limit();
        let mut passage = self
            .streams
            .body_chunk(
                Phase::ResponseBody,
                order.between(*waiting, seen),
                chunk,
                eos,
                limit,
            )
            .await;
        while let (Passage::Released { data, .. }, true) = (&passage, *waiting > 0) {
            let data = Bytes::from(data.clone());
            let opened = *waiting;
            *waiting = match self.response_header_phases(opened, false).await {
                Ok(waiting) => waiting,
                Err(stop) => return Passage::Stopped(stop),
            };
            let next = order.between(*waiting, opened);
            passage = match self
                .streams
                .body_chunk(Phase::ResponseBody, next, data, eos, limit)
                .await
            {
                // The data left the plugin that held the headers: it is not the upstream's.
                Passage::Released { data, .. } => Passage::Released {
                    data,
                    changed: true,
                },
                other => other,
            };
        }
        passage
    }

    /// The response trailers through the trailer phases of the plugins that saw the headers;
    /// as with a chunk, what is released past the plugin that held the headers lets them go
    /// on to the waiting plugins first.
    async fn response_trailers(
        &mut self,
        order: &Descending,
        seen: usize,
        waiting: &mut usize,
    ) -> Passage {
        let limit = self.body_limit();
        let mut passage = self
            .streams
            .trailers(
                Phase::ResponseTrailers,
                order.between(*waiting, seen),
                Vec::new(),
                limit,
            )
            .await;
        while let (Passage::Released { data, .. }, true) = (&passage, *waiting > 0) {
            let data = data.clone();
            let opened = *waiting;
            *waiting = match self.response_header_phases(opened, false).await {
                Ok(waiting) => waiting,
                Err(stop) => return Passage::Stopped(stop),
            };
            let next = order.between(*waiting, opened);
            passage = self
                .streams
                .trailers(Phase::ResponseTrailers, next, data, limit)
                .await;
        }
        passage
    }

    /// Streams the response body through the plugins' body phases (and its trailers through
    /// their trailer phases) to the client. The head goes out with the first released data
    /// (its length known when that is the whole body). Returns the status the client got.
    pub(crate) async fn stream_response(
        &mut self,
        seen: usize,
        mut waiting: usize,
        mut source: Source,
        head_tx: oneshot::Sender<http::Response<Body>>,
    ) -> http::StatusCode {
        let mut out = Outgoing {
            head_tx: Some(head_tx),
            body_tx: None,
            status: http::StatusCode::INTERNAL_SERVER_ERROR,
        };
        let order = Descending::below(seen);
        if let Some((injector, injected)) = self.streams.take_injected() {
            // Data a plugin injected from its response-header phase comes first, to the
            // plugins before it; ending the response, it is all of the body.
            let end = injected.end_of_stream;
            let data = Bytes::from(injected.data);
            let passage = self
                .response_chunk(&order, injector, &mut waiting, data, end)
                .await;
            if !self.pass_on(&mut out, passage, end, false).await || end {
                return self.finish_response(out).await;
            }
        }
        if source.is_open() {
            // An open response's head goes out at once, before any body.
            self.release(&mut out, Vec::new(), false, false, None).await;
        }
        while let Some(next) = next_piece(&mut source, &out).await {
            let (passage, end, trailers) = match next {
                Ok(Piece::Data(chunk, eos)) => {
                    let passage = self
                        .response_chunk(&order, seen, &mut waiting, chunk, eos)
                        .await;
                    (passage, eos, false)
                }
                Ok(Piece::Trailers(map)) => {
                    self.streams.headers.response_trailers = headers::trailer_map(&map);
                    let passage = self.response_trailers(&order, seen, &mut waiting).await;
                    (passage, true, true)
                }
                Err(e) => {
                    tracing::warn!(request_id = %self.streams.request_id(), "upstream body: {e}");
                    if let Some(tx) = &out.body_tx {
                        tx.abort(e).await;
                    }
                    break;
                }
            };
            // A plugin's injection may end the response before the upstream's body does.
            let end = end || self.streams.take_ended_by_injection();
            if !self.pass_on(&mut out, passage, end, trailers).await || end {
                break;
            }
        }
        self.finish_response(out).await
    }

    /// Sends what a piece's passage released (false when the response cannot go on: the
    /// client left or a plugin stopped it).
    async fn pass_on(
        &mut self,
        out: &mut Outgoing,
        passage: Passage,
        end: bool,
        trailers: bool,
    ) -> bool {
        match passage {
            Passage::Released { data, changed } => {
                let trailers = trailers.then(|| self.outgoing_trailers()).flatten();
                self.release(out, data, end, changed, trailers).await
            }
            Passage::Held => true,
            Passage::Stopped(stop) => {
                self.stop_response(out, stop).await;
                false
            }
        }
    }

    /// Sends the head if nothing released it yet; the status the client got.
    async fn finish_response(&mut self, mut out: Outgoing) -> http::StatusCode {
        if out.head_tx.is_some() {
            self.release(&mut out, Vec::new(), true, false, None).await;
        }
        out.status
    }

    /// The trailers that go to the client: the plugins' response trailers, over HTTP/2 only
    /// (Envoy's HTTP/1 codec drops them by default).
    fn outgoing_trailers(&self) -> Option<http::HeaderMap> {
        let map = &self.streams.headers.response_trailers;
        (self.downstream_http2 && !map.is_empty()).then(|| headers::http_headers(map))
    }

    /// Sends released data (and the trailers that end it): with the head if it has not gone
    /// yet, else on the body channel. False when the client is gone.
    async fn release(
        &mut self,
        out: &mut Outgoing,
        data: Vec<u8>,
        end: bool,
        changed: bool,
        trailers: Option<http::HeaderMap>,
    ) -> bool {
        if let Some(head) = out.head_tx.take() {
            let complete = end && trailers.is_none();
            let response = self.head_response(data, complete, changed, &mut out.body_tx);
            out.status = response.status();
            let _ = head.send(response);
        } else if let Some(tx) = &out.body_tx {
            if tx.data(Bytes::from(data)).await.is_err() {
                return false;
            }
        }
        match (trailers, &out.body_tx) {
            (Some(trailers), Some(tx)) => {
                let sent = tx.trailers(trailers).await.is_ok();
                out.body_tx = None;
                sent
            }
            _ => true,
        }
    }

    /// A plugin stopped the response: its reply goes out if the head has not, else the body
    /// breaks off.
    async fn stop_response(&mut self, out: &mut Outgoing, stop: Stop) {
        let response = match stop {
            Stop::Reply(reply) => reply_response(reply, self.grpc),
            Stop::Fail(code, message) => failure_response(code, &message, self.grpc),
        };
        match out.head_tx.take() {
            Some(head) => {
                out.status = response.status();
                let _ = head.send(finish_head(response, self.head, true));
            }
            None => {
                if let Some(tx) = &out.body_tx {
                    tx.abort("a plugin stopped the response".into()).await;
                }
            }
        }
    }

    /// The response head with its first data: the whole body, or the start of a stream.
    fn head_response(
        &mut self,
        data: Vec<u8>,
        complete: bool,
        reframe: bool,
        body_tx: &mut Option<BodySender>,
    ) -> http::Response<Body> {
        // The headers stay: each plugin's `on_log` reads them.
        let map = &self.streams.headers.response;
        let body = if complete {
            full(data)
        } else {
            let (tx, body) = channel();
            tx.first(Bytes::from(data));
            *body_tx = Some(tx);
            body
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = status_of(map);
        *response.headers_mut() = headers::http_headers(map);
        finish_head(response, self.head, complete || reframe)
    }
}

/// The next piece of the body; an open response's ends (`None`) when the client leaves.
async fn next_piece(source: &mut Source, out: &Outgoing) -> Option<Result<Piece, BodyError>> {
    match &out.body_tx {
        Some(tx) if source.is_open() => tokio::select! {
            next = source.next() => next,
            () = tx.closed() => None,
        },
        _ => source.next().await,
    }
}

/// The plugins' indices in response order (`seen - 1` down to 0), made once per response:
/// each chunk takes the run of them that has seen the headers.
struct Descending(Vec<usize>);

impl Descending {
    fn below(seen: usize) -> Descending {
        Descending((0..seen).rev().collect())
    }

    /// Indices `from..to`, in response order (`to - 1` first).
    fn between(&self, from: usize, to: usize) -> &[usize] {
        let len = self.0.len();
        let to = to.min(len);
        &self.0[len - to..len - from.min(to)]
    }
}

/// The client's side of a streamed response: the head until it goes, then the body channel.
struct Outgoing {
    head_tx: Option<oneshot::Sender<http::Response<Body>>>,
    body_tx: Option<BodySender>,
    status: http::StatusCode,
}
