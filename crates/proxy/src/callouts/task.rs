//! The callout task of one VM: it performs the calls the VM queued, each in a task of its
//! own, and hands every answer to whoever delivers it to the VM that made the call. A gRPC
//! call or stream stays in the task's table while it is open, so the plugin's messages,
//! half-close and cancel reach it by token.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use wasmgate_host::{GrpcEvent, GrpcTarget, HttpCalloutResponse};

use super::grpc::{frame, Exchange};
use super::handler::{GrpcControl, Outbound};
use super::http::http_call;
use super::redis::RedisPool;
use crate::body::{channel, full, Body, BodySender};
use crate::upstream::client::Client;
use crate::upstream::Endpoint;

/// Takes the answers of one VM's calls, tagged with the VM generation that made them (a
/// rebuilt VM drops the answers of its predecessor).
/// Each answer is delivered once the VM is free to take it (a guest call may hold it).
pub(crate) trait Answers {
    /// The answer to call `token` of the VM of `generation`.
    fn deliver(&self, generation: u64, token: u32, answer: Answer) -> Delivery<'_>;
}

/// What came back for one call.
pub(crate) enum Answer {
    /// An HTTP callout's answer (`None`: it could not be sent).
    Http(Option<HttpCalloutResponse>),
    /// A Redis reply: status 0 and the raw RESP reply, or 1 and nothing.
    Redis { status: i32, reply: Vec<u8> },
    /// What came back on a gRPC call or stream, in wire order.
    Grpc(GrpcEvent),
}

/// The delivery of one answer.
pub(crate) type Delivery<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

/// A gRPC call or stream in flight: its task, and (for a stream) where its messages go.
struct OpenGrpc {
    task: AbortHandle,
    messages: Option<mpsc::UnboundedSender<GrpcControl>>,
}

/// The open gRPC calls and streams of one VM, by generation and token.
type OpenTable = Rc<RefCell<HashMap<(u64, u32), OpenGrpc>>>;

/// Performs the calls of one VM and hands their answers to `answers` while it lives.
pub(crate) async fn perform_calls(
    answers: Weak<dyn Answers>,
    mut inbox: mpsc::UnboundedReceiver<Outbound>,
    client: Client,
) {
    let pool = Rc::new(RedisPool::default());
    let open = OpenTable::default();
    while let Some(call) = inbox.recv().await {
        match call {
            Outbound::Http(generation, call, endpoint) => {
                let (answers, client) = (answers.clone(), client.clone());
                tokio::task::spawn_local(async move {
                    let token = call.token;
                    let response = http_call(&client, call, &endpoint).await;
                    if let Some(answers) = answers.upgrade() {
                        answers
                            .deliver(generation, token, Answer::Http(response))
                            .await;
                    }
                });
            }
            Outbound::Redis(generation, call, address, init) => {
                let (answers, pool) = (answers.clone(), pool.clone());
                tokio::task::spawn_local(async move {
                    let token = call.token;
                    let (status, reply) = match pool.call(&call, &address, init.as_ref()).await {
                        Ok(reply) => (0, reply),
                        Err(e) => {
                            tracing::warn!(
                                "Redis call to {} ({address}) failed: {e}",
                                call.upstream
                            );
                            (1, Vec::new())
                        }
                    };
                    if let Some(answers) = answers.upgrade() {
                        answers
                            .deliver(generation, token, Answer::Redis { status, reply })
                            .await;
                    }
                });
            }
            Outbound::GrpcCall(generation, call, endpoint) => {
                let body = full(frame(&call.message));
                let grpc = Grpc {
                    answers: answers.clone(),
                    client: client.clone(),
                    open: open.clone(),
                    generation,
                    token: call.token,
                };
                let task = grpc.start(endpoint, call.target, call.timeout_ms, body);
                let entry = OpenGrpc {
                    task,
                    messages: None,
                };
                open.borrow_mut().insert((generation, call.token), entry);
            }
            Outbound::GrpcStream(generation, stream, endpoint) => {
                let (body_tx, body) = channel();
                let (messages, inputs) = mpsc::unbounded_channel();
                tokio::task::spawn_local(forward_messages(inputs, body_tx));
                let grpc = Grpc {
                    answers: answers.clone(),
                    client: client.clone(),
                    open: open.clone(),
                    generation,
                    token: stream.token,
                };
                let task = grpc.start(endpoint, stream.target, 0, body);
                let entry = OpenGrpc {
                    task,
                    messages: Some(messages),
                };
                open.borrow_mut().insert((generation, stream.token), entry);
            }
            Outbound::GrpcControl(generation, token, GrpcControl::Cancel) => {
                if let Some(call) = open.borrow_mut().remove(&(generation, token)) {
                    // Dropping the exchange resets its HTTP/2 stream.
                    call.task.abort();
                }
            }
            Outbound::GrpcControl(generation, token, control) => {
                let mut open = open.borrow_mut();
                let Some(call) = open.get_mut(&(generation, token)) else {
                    continue;
                };
                let last = matches!(control, GrpcControl::Close | GrpcControl::Send(_, true));
                if let Some(messages) = &call.messages {
                    let _ = messages.send(control);
                }
                if last {
                    call.messages = None;
                }
            }
        }
    }
}

/// One gRPC call or stream of a VM, and where its events go.
struct Grpc {
    answers: Weak<dyn Answers>,
    client: Client,
    open: OpenTable,
    generation: u64,
    token: u32,
}

impl Grpc {
    /// Runs the exchange in a task of its own; it leaves the table when it closes.
    fn start(
        self,
        endpoint: Endpoint,
        target: GrpcTarget,
        timeout_ms: u32,
        body: Body,
    ) -> AbortHandle {
        let handle = tokio::task::spawn_local(async move {
            let exchange = Exchange {
                client: &self.client,
                endpoint: &endpoint,
                target: &target,
                timeout_ms,
            };
            // Events are delivered in wire order, each once the VM is free to take it.
            let (events, mut arrived) = mpsc::unbounded_channel();
            let exchanged = async move {
                let mut report = |event: GrpcEvent| {
                    let _ = events.send(event);
                };
                exchange.run(body, &mut report).await;
            };
            let delivered = async {
                while let Some(event) = arrived.recv().await {
                    if matches!(event, GrpcEvent::Close { .. }) {
                        self.open
                            .borrow_mut()
                            .remove(&(self.generation, self.token));
                    }
                    if let Some(answers) = self.answers.upgrade() {
                        answers
                            .deliver(self.generation, self.token, Answer::Grpc(event))
                            .await;
                    }
                }
            };
            tokio::join!(exchanged, delivered);
        });
        handle.abort_handle()
    }
}

/// Frames a stream's messages into its request body as the plugin sends them; the body
/// ends (half-close) with the last one or a close.
async fn forward_messages(mut inputs: mpsc::UnboundedReceiver<GrpcControl>, body: BodySender) {
    while let Some(input) = inputs.recv().await {
        match input {
            GrpcControl::Send(message, last) => {
                if body.data(frame(&message)).await.is_err() || last {
                    return;
                }
            }
            GrpcControl::Close | GrpcControl::Cancel => return,
        }
    }
}
