//! The arguments of Higress's foreign functions `inject_encoded_data_to_filter_chain` and
//! `inject_encoded_data_to_filter_chain_on_header`: a serialized
//! `InjectEncodedDataToFilterChainArguments` protobuf (wasm-go's `pkg/protos`): `body`
//! (field 1, string) and `endstream` (field 2, bool).

use crate::wire::{put_bytes, put_varint_field, Reader, LEN, VARINT};

/// Data a plugin injects into the response after itself, and whether it ends the response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InjectArguments {
    /// The data.
    pub body: Vec<u8>,
    /// Whether the response ends with it.
    pub end_of_stream: bool,
}

impl InjectArguments {
    /// Decodes the message; `None` when the bytes are not a valid one.
    pub fn decode(bytes: &[u8]) -> Option<InjectArguments> {
        let mut arguments = InjectArguments::default();
        let mut reader = Reader(bytes);
        while let Some((field, wire)) = reader.tag()? {
            match (field, wire) {
                (1, LEN) => arguments.body = reader.bytes()?.to_vec(),
                (2, VARINT) => arguments.end_of_stream = reader.varint()? != 0,
                _ => reader.skip(field, wire)?,
            }
        }
        Some(arguments)
    }

    /// Encodes the message (fields at their defaults are left out, as proto3 does).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.body.is_empty() {
            put_bytes(&mut out, 1, &self.body);
        }
        if self.end_of_stream {
            put_varint_field(&mut out, 2, 1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip_and_known_bytes_decode() {
        let arguments = InjectArguments {
            body: b"{\"jsonrpc\":\"2.0\"}".to_vec(),
            end_of_stream: true,
        };
        assert_eq!(
            InjectArguments::decode(&arguments.encode()),
            Some(arguments)
        );
        // body: "hi", endstream: true, as Go's proto.Marshal writes them.
        let known = [0x0a, 0x02, b'h', b'i', 0x10, 0x01];
        let decoded = InjectArguments::decode(&known).expect("valid");
        assert_eq!(decoded.body, b"hi");
        assert!(decoded.end_of_stream);
        assert_eq!(
            InjectArguments::decode(&[]),
            Some(InjectArguments::default())
        );
        assert_eq!(InjectArguments::decode(&[0x0a, 0x05, b'h']), None);
    }
}
