//! The RESP reply parser: `value_end` (where a reply ends in a stream of bytes, as the Redis
//! client reads them) and `decode` never panic, and agree: a reply that decodes ends where
//! the bytes end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmgate_abi::resp;

fuzz_target!(|data: &[u8]| {
    let end = resp::value_end(data);
    if let Some(end) = end {
        assert!(end <= data.len(), "value_end past the bytes");
        let _ = resp::decode(&data[..end]);
    }
    if let Ok(value) = resp::decode(data) {
        assert_eq!(
            end,
            Some(data.len()),
            "a decoded reply ends where its bytes end"
        );
        let _ = (
            value.as_string(),
            value.as_integer(),
            value.as_float(),
            value.as_bool(),
        );
    }
});
