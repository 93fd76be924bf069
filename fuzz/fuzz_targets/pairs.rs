//! The header-map wire codec: any bytes decode to a map or an error, never a panic; a map
//! that decodes encodes back to bytes that decode to the same map.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmgate_abi::pairs;

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = pairs::decode(data) else {
        return;
    };
    let borrowed = pairs::decode_borrowed(data).expect("decode and decode_borrowed agree");
    assert_eq!(borrowed.len(), decoded.len());
    let again = pairs::decode(&pairs::encode(&decoded)).expect("an encoded map decodes");
    assert_eq!(again, decoded);
});
