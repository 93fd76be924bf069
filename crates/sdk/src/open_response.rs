//! Open responses (a wasmgate extension): answer a request with headers now, with no
//! upstream, and write its body later from any callback: a tick, a shared-queue ready, a
//! callout's answer. What is written goes to the client when the callback returns; the
//! client leaving ends the request as usual (the plugin's `on_stream_done` runs). This is
//! how a plugin serves a Server-Sent Events stream fed by other requests.
//!
//! Keep the [`HttpContext`] (a cheap clone) to write to it later; [`HttpContext::is_live`]
//! says whether the client is still there. Under Envoy or Higress, which have no such
//! host function, [`HttpContext::open_response`] fails with `NotFound`.
//!
//! ```ignore
//! fn on_request_headers(ctx: &HttpContext, _: &Config) -> Result<HeaderAction> {
//!     let action = ctx.open_response(200, &[("content-type", "text/event-stream")])?;
//!     ctx.write_response("event: hello\ndata: {}\n\n")?;
//!     STREAMS.with(|s| s.borrow_mut().push(ctx.clone())); // written to on a tick
//!     Ok(action)
//! }
//! ```

use crate::context::{HttpContext, ReplyAction};
use crate::error::Result;
use crate::raw;

impl HttpContext {
    /// Answers the request with `status` and `headers` and keeps the body open (the host's
    /// `wasmgate_open_response`): the head goes to the client at once, the body is what
    /// [`write_response`](Self::write_response) writes until
    /// [`end_response`](Self::end_response). Gives back the action that ends the phase, as
    /// [`send_response`](Self::send_response) does.
    pub fn open_response<A: ReplyAction>(
        &self,
        status: u32,
        headers: &[(&str, &str)],
    ) -> Result<A> {
        self.enter()?;
        let status = status.to_string();
        let mut all = vec![(":status", status.as_str())];
        all.extend_from_slice(headers);
        raw::open_response(&all)?;
        self.data().replied = true;
        Ok(A::after_reply())
    }

    /// Writes body data to the open response; from any callback, it goes to the client
    /// when the callback returns.
    pub fn write_response(&self, data: impl AsRef<[u8]>) -> Result<()> {
        self.inject_encoded_data(data.as_ref(), false)
    }

    /// Writes the last data (may be empty) and ends the open response.
    pub fn end_response(&self, data: impl AsRef<[u8]>) -> Result<()> {
        self.inject_encoded_data(data.as_ref(), true)
    }
}
