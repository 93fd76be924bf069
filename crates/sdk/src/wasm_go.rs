//! wasm-go's names, for code ported from Higress's Go SDK: helpers the Go SDK has under
//! these names and that this SDK otherwise offers in its own way. Bring them in with
//! `use wasmgate_sdk::wasm_go::*;`.
//!
//! | wasm-go | here | the SDK's own way |
//! |---|---|---|
//! | `ctx.PushBuffer(b)`, `PopBuffer()`, `BufferQueueSize()` | [`WasmGoHttpContext`] | keep a `VecDeque` with [`HttpContext::insert`] |
//! | `ctx.GetExecutionPhase()` | [`WasmGoHttpContext::get_execution_phase`] | [`HttpContext::phase`] |
//! | `wrapper.DoLeaderElection()`, `IsLeader()` | [`WasmGoPluginContext`] | [`leader::do_leader_election`], [`leader::is_leader`] |

use std::collections::VecDeque;

use crate::context::{HttpContext, Phase};
use crate::leader;
use crate::plugin_context::PluginContext;

/// The chunks a request holds back (wasm-go's buffer queue), in its store.
#[derive(Default)]
struct HeldChunks(VecDeque<Vec<u8>>);

/// wasm-go's names on [`HttpContext`].
pub trait WasmGoHttpContext {
    /// Queues a chunk for later (`PushBuffer`).
    fn push_buffer(&self, chunk: Vec<u8>);
    /// Takes the oldest queued chunk (`PopBuffer`).
    fn pop_buffer(&self) -> Option<Vec<u8>>;
    /// How many chunks are queued (`BufferQueueSize`).
    fn buffer_queue_size(&self) -> usize;
    /// Where the request is in its life (`GetExecutionPhase`).
    fn get_execution_phase(&self) -> Phase;
}

impl WasmGoHttpContext for HttpContext {
    fn push_buffer(&self, chunk: Vec<u8>) {
        let mut chunk = Some(chunk);
        self.with(|held: &mut HeldChunks| held.0.extend(chunk.take()));
        if let Some(first) = chunk {
            self.insert(HeldChunks(VecDeque::from([first])));
        }
    }

    fn pop_buffer(&self) -> Option<Vec<u8>> {
        self.with(|held: &mut HeldChunks| held.0.pop_front())
            .flatten()
    }

    fn buffer_queue_size(&self) -> usize {
        self.with(|held: &mut HeldChunks| held.0.len()).unwrap_or(0)
    }

    fn get_execution_phase(&self) -> Phase {
        self.phase()
    }
}

/// wasm-go's names on [`PluginContext`].
pub trait WasmGoPluginContext {
    /// Takes or renews this plugin's leader lease; whether this VM leads
    /// (`DoLeaderElection`). See [`leader`].
    fn do_leader_election(&self) -> bool;
    /// Whether the last election made this VM the leader (`IsLeader`).
    fn is_leader(&self) -> bool;
}

impl WasmGoPluginContext for PluginContext {
    fn do_leader_election(&self) -> bool {
        leader::do_leader_election()
    }

    fn is_leader(&self) -> bool {
        leader::is_leader()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_queue_is_first_in_first_out() {
        let ctx = HttpContext::new(3);
        assert_eq!(ctx.buffer_queue_size(), 0);
        ctx.push_buffer(b"a".to_vec());
        ctx.push_buffer(b"b".to_vec());
        assert_eq!(ctx.buffer_queue_size(), 2);
        assert_eq!(ctx.pop_buffer().as_deref(), Some(&b"a"[..]));
        assert_eq!(ctx.pop_buffer().as_deref(), Some(&b"b"[..]));
        assert_eq!(ctx.pop_buffer(), None);
    }
}
