//! The property-path codec: any bytes split into segments; the segments join back to the
//! path (less the trailing NUL some SDKs send), and the dotted form never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmgate_abi::path;

fuzz_target!(|data: &[u8]| {
    let segments = path::decode(data);
    let joined = path::encode(&segments);
    let expected = data.strip_suffix(&[0]).unwrap_or(data);
    assert_eq!(joined, expected);
    let _ = path::dotted(data);
});
