//! The HTTP/1.1 request check in front of hyper (`crates/proxy/src/edge/framing.rs`): any
//! bytes a client sends are read through it without a panic, and what hyper reads (and which
//! request is refused) is the same however the client's bytes are split across reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmgate_proxy::read_http1_through_the_check as read_through;

/// A small limit, so that heads past it come up often.
const MAX_HEAD: usize = 512;

fuzz_target!(|input: (u16, &[u8])| {
    let (cut, bytes) = input;
    let whole = read_through(&[bytes], MAX_HEAD);
    let cut = usize::from(cut) % (bytes.len() + 1);
    let (first, second) = bytes.split_at(cut);
    assert_eq!(read_through(&[first, second], MAX_HEAD), whole, "cut at {cut}");
    // What passes is the client's bytes, obs-fold turned into spaces in place, up to a
    // refused head (then the stand-in request).
    if whole.1.is_none() {
        assert_eq!(whole.0.len(), bytes.len());
    }
});
