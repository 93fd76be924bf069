//! The callout task of one VM: it performs the calls the VM queued, each in a task of its
//! own, and hands every answer to whoever delivers it to the VM that made the call.

use std::rc::{Rc, Weak};

use tokio::sync::mpsc;
use wasmgate_host::HttpCalloutResponse;

use super::handler::Outbound;
use super::http::http_call;
use super::redis::RedisPool;
use crate::upstream::client::Client;

/// Takes the answers of one VM's calls, tagged with the VM generation that made them (a
/// rebuilt VM drops the answers of its predecessor).
pub(crate) trait Answers {
    /// An HTTP callout's answer (`None`: it could not be sent).
    fn http_answer(&self, generation: u64, token: u32, response: Option<HttpCalloutResponse>);
    /// A Redis reply: status 0 and the raw RESP reply, or 1 and nothing.
    fn redis_answer(&self, generation: u64, token: u32, status: i32, reply: Vec<u8>);
}

/// Performs the calls of one VM and hands their answers to `answers` while it lives.
pub(crate) async fn perform_calls(
    answers: Weak<dyn Answers>,
    mut inbox: mpsc::UnboundedReceiver<Outbound>,
    client: Client,
) {
    let pool = Rc::new(RedisPool::default());
    while let Some(call) = inbox.recv().await {
        let answers = answers.clone();
        let client = client.clone();
        let pool = pool.clone();
        tokio::task::spawn_local(async move {
            match call {
                Outbound::Http(generation, call, endpoint) => {
                    let token = call.token;
                    let response = http_call(&client, call, &endpoint).await;
                    if let Some(answers) = answers.upgrade() {
                        answers.http_answer(generation, token, response);
                    }
                }
                Outbound::Redis(generation, call, address, init) => {
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
                        answers.redis_answer(generation, token, status, reply);
                    }
                }
            }
        });
    }
}
