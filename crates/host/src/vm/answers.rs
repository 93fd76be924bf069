//! Callout answers into a VM: an HTTP callout's response, a Redis reply, and the events of
//! gRPC calls and streams, each delivered to the root context (as in Envoy, whose calls
//! belong to it) with its buffers readable for that one callback.

use crate::callout::{GrpcEvent, HttpCalloutResponse};
use crate::error::HostError;

use super::{PluginVm, ROOT_ID};

impl PluginVm {
    /// Answers an HTTP callout; `None` means it failed or timed out (the plugin sees
    /// zero headers, as in Envoy).
    pub async fn on_http_call_response(
        &mut self,
        token: u32,
        response: Option<HttpCalloutResponse>,
    ) -> Result<(), HostError> {
        let exports = self.exports.clone();
        let Some(f) = exports.http_call_response.as_ref() else {
            return Ok(());
        };
        let (headers, body, trailers) = response
            .as_ref()
            .map(|r| {
                (
                    r.headers.len() as u32,
                    r.body.len() as u32,
                    r.trailers.len() as u32,
                )
            })
            .unwrap_or_default();
        let args = (ROOT_ID, token, headers, body, trailers);
        self.guest("proxy_on_http_call_response", ROOT_ID, async move |s| {
            s.data_mut().buffers.callout = response;
            f.call_async(s, args).await
        })
        .await?;
        self.deliver_queue_ready().await
    }

    /// Answers a Redis callout with a status (0: ok) and the RESP reply.
    pub async fn on_redis_call_response(
        &mut self,
        token: u32,
        status: i32,
        reply: Vec<u8>,
    ) -> Result<(), HostError> {
        let exports = self.exports.clone();
        let Some(f) = exports.redis_call_response.as_ref() else {
            return Ok(());
        };
        let args = (ROOT_ID, token, status, reply.len() as i32);
        self.guest("proxy_on_redis_call_response", ROOT_ID, async move |s| {
            s.data_mut().buffers.redis = Some(reply);
            f.call_async(s, args).await
        })
        .await?;
        self.deliver_queue_ready().await
    }

    /// Delivers what came back on a gRPC call or stream, in wire order. The host decides
    /// what the plugin sees, as Envoy: a stream's headers, messages, trailers and status
    /// each become a callback; a unary call gets only its last message (at its OK status)
    /// or its failure status; events of a call that was cancelled or ended are dropped.
    pub async fn on_grpc_event(&mut self, token: u32, event: GrpcEvent) -> Result<(), HostError> {
        let Some(event) = self.store.data_mut().grpc.event(token, event) else {
            return Ok(());
        };
        let exports = self.exports.clone();
        let delivered = match event {
            GrpcEvent::InitialMetadata(map) => match exports.grpc_initial_metadata.as_ref() {
                Some(f) => {
                    let args = (ROOT_ID, token, map.len() as u32);
                    self.guest(
                        "proxy_on_grpc_receive_initial_metadata",
                        ROOT_ID,
                        async |s| {
                            s.data_mut().buffers.grpc_initial_metadata = Some(map);
                            f.call_async(s, args).await
                        },
                    )
                    .await
                }
                None => Ok(()),
            },
            GrpcEvent::Message(message) => match exports.grpc_receive.as_ref() {
                Some(f) => {
                    let args = (ROOT_ID, token, message.len() as u32);
                    self.guest("proxy_on_grpc_receive", ROOT_ID, async |s| {
                        s.data_mut().buffers.grpc_message = Some(message);
                        f.call_async(s, args).await
                    })
                    .await
                }
                None => Ok(()),
            },
            GrpcEvent::TrailingMetadata(map) => match exports.grpc_trailing_metadata.as_ref() {
                Some(f) => {
                    let args = (ROOT_ID, token, map.len() as u32);
                    self.guest(
                        "proxy_on_grpc_receive_trailing_metadata",
                        ROOT_ID,
                        async |s| {
                            s.data_mut().buffers.grpc_trailing_metadata = Some(map);
                            f.call_async(s, args).await
                        },
                    )
                    .await
                }
                None => Ok(()),
            },
            GrpcEvent::Close { status, message } => match exports.grpc_close.as_ref() {
                Some(f) => {
                    let args = (ROOT_ID, token, status);
                    self.guest("proxy_on_grpc_close", ROOT_ID, async |s| {
                        s.data_mut().buffers.grpc_status = Some((status, message));
                        f.call_async(s, args).await
                    })
                    .await
                }
                None => Ok(()),
            },
        };
        delivered?;
        self.deliver_queue_ready().await
    }
}
