//! An open response (wasmgate's foreign function `wasmgate_open_response`): a plugin answered
//! with headers and keeps the body open with no upstream, as Higress's SSE server answers
//! locally and feeds the body later. [`OpenBody`] gives what the plugin injects (Higress's
//! `inject_encoded_data_to_filter_chain*`), from its phase or from any later callback (a
//! tick, a queue ready, a callout's answer), as soon as the callback returns, until an
//! injection ends the body, the plugin closes the stream or its VM is rebuilt.

use bytes::Bytes;
use wasmgate_host::{Injected, StreamSignal};

use crate::body::BodyError;
use crate::worker::slot::SlotRef;

/// The body of one plugin stream's open response.
pub(crate) struct OpenBody {
    slot: SlotRef,
    id: u32,
    /// The VM's generation when the stream opened: a rebuilt VM no longer has the stream.
    generation: u64,
    ended: bool,
}

impl OpenBody {
    pub(crate) fn new(slot: SlotRef, id: u32, generation: u64) -> OpenBody {
        OpenBody {
            slot,
            id,
            generation,
            ended: false,
        }
    }

    /// The next data the plugin wrote and whether it ends the body; `None` after the end.
    pub(crate) async fn next(&mut self) -> Option<Result<(Bytes, bool), BodyError>> {
        if self.ended {
            return None;
        }
        let next = self.written().await;
        self.ended = next.as_ref().map_or(true, |(_, end)| *end);
        Some(next)
    }

    /// Waits until the plugin has written (data waiting from before comes at once).
    async fn written(&mut self) -> Result<(Bytes, bool), BodyError> {
        loop {
            let waiter = {
                let mut slot = self.slot.lock().await;
                if slot.generation != self.generation {
                    return Err("the plugin's VM was rebuilt: its open response ends".into());
                }
                let Some(stream) = slot.vm.stream_mut(self.id) else {
                    return Err("the plugin's stream is gone: its open response ends".into());
                };
                if let Some(Injected {
                    data,
                    end_of_stream,
                }) = stream.injected.take()
                {
                    return Ok((Bytes::from(data), end_of_stream));
                }
                slot.wait(self.id)
            };
            match waiter.await {
                Ok(StreamSignal::Close) => return Err("the plugin closed the stream".into()),
                Ok(_) => continue,
                Err(_) => return Err("the plugin's VM was rebuilt: its open response ends".into()),
            }
        }
    }
}
