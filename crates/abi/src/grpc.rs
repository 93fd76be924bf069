//! The `service` argument of `proxy_grpc_call` and `proxy_grpc_stream`: either a cluster
//! name, or a serialized `envoy.config.core.v3.GrpcService` protobuf, of which a host reads
//! `envoy_grpc.cluster_name` (field 1.1), `envoy_grpc.authority` (1.2) and `timeout` (3).
//!
//! Hand-written rather than generated: three fields of one message, needed on both sides
//! (the host decodes, the SDK encodes), in a crate with no runtime dependencies. The decoder
//! accepts exactly what a protobuf parser accepts as wire format (unknown fields and groups
//! are skipped, malformed varints, lengths or wire types refuse the whole message, strings
//! must be UTF-8 as proto3 requires), because Envoy takes the argument for a cluster name
//! only when it does not parse as a `GrpcService`.

use crate::wire::{put_bytes, put_varint_field, Reader, LEN, VARINT};

/// What a host reads of a `GrpcService`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrpcService {
    /// `envoy_grpc.cluster_name` (empty when the message has no `envoy_grpc`).
    pub cluster_name: String,
    /// `envoy_grpc.authority`: the `:authority` of the calls (empty: the cluster name).
    pub authority: String,
    /// `timeout` in milliseconds, when set.
    pub timeout_ms: Option<u64>,
}

/// A call's `service` argument, read as Envoy reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceArgument {
    /// Bytes that parse as a `GrpcService`.
    Service(GrpcService),
    /// Anything else: a cluster name (lossy UTF-8).
    ClusterName(String),
}

impl ServiceArgument {
    /// A `GrpcService` when the bytes parse as one, else a cluster name.
    pub fn read(bytes: &[u8]) -> ServiceArgument {
        match GrpcService::decode(bytes) {
            Some(service) => ServiceArgument::Service(service),
            None => ServiceArgument::ClusterName(String::from_utf8_lossy(bytes).into_owned()),
        }
    }
}

impl GrpcService {
    /// A service that names a cluster.
    pub fn cluster(name: impl Into<String>) -> GrpcService {
        GrpcService {
            cluster_name: name.into(),
            ..GrpcService::default()
        }
    }

    /// Decodes the message; `None` when the bytes are not a valid `GrpcService`.
    pub fn decode(bytes: &[u8]) -> Option<GrpcService> {
        let mut service = GrpcService::default();
        let mut reader = Reader(bytes);
        while let Some((field, wire)) = reader.tag()? {
            match (field, wire) {
                (1, LEN) => service.read_envoy_grpc(reader.bytes()?)?,
                (3, LEN) => service.timeout_ms = Some(duration_ms(reader.bytes()?)?),
                _ => reader.skip(field, wire)?,
            }
        }
        Some(service)
    }

    fn read_envoy_grpc(&mut self, bytes: &[u8]) -> Option<()> {
        let mut reader = Reader(bytes);
        while let Some((field, wire)) = reader.tag()? {
            match (field, wire) {
                (1, LEN) => self.cluster_name = reader.text()?,
                (2, LEN) => self.authority = reader.text()?,
                _ => reader.skip(field, wire)?,
            }
        }
        Some(())
    }

    /// Encodes the fields that are set.
    pub fn encode(&self) -> Vec<u8> {
        let mut envoy_grpc = Vec::new();
        put_bytes(&mut envoy_grpc, 1, self.cluster_name.as_bytes());
        if !self.authority.is_empty() {
            put_bytes(&mut envoy_grpc, 2, self.authority.as_bytes());
        }
        let mut out = Vec::new();
        put_bytes(&mut out, 1, &envoy_grpc);
        if let Some(ms) = self.timeout_ms {
            let mut duration = Vec::new();
            put_varint_field(&mut duration, 1, ms / 1000);
            put_varint_field(&mut duration, 2, (ms % 1000) * 1_000_000);
            put_bytes(&mut out, 3, &duration);
        }
        out
    }
}

/// `google.protobuf.Duration` in milliseconds (negative counts as 0).
fn duration_ms(bytes: &[u8]) -> Option<u64> {
    let (mut seconds, mut nanos) = (0i64, 0i64);
    let mut reader = Reader(bytes);
    while let Some((field, wire)) = reader.tag()? {
        match (field, wire) {
            (1, VARINT) => seconds = reader.varint()? as i64,
            (2, VARINT) => nanos = reader.varint()? as i32 as i64,
            _ => reader.skip(field, wire)?,
        }
    }
    let ms = seconds
        .saturating_mul(1000)
        .saturating_add(nanos / 1_000_000);
    Some(ms.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_round_trips() {
        let service = GrpcService {
            cluster_name: "outbound|50051||grpc.static".into(),
            authority: "grpc.test".into(),
            timeout_ms: Some(1500),
        };
        assert_eq!(GrpcService::decode(&service.encode()), Some(service));
    }

    #[test]
    fn known_bytes_decode() {
        // envoy_grpc { cluster_name: "c" authority: "a" }, timeout { seconds: 2 nanos: 5e8 },
        // and an unknown varint field 9 and a group 10 that a parser skips.
        let bytes = [
            0x0a, 0x06, 0x0a, 0x01, b'c', 0x12, 0x01, b'a', 0x1a, 0x08, 0x08, 0x02, 0x10, 0x80,
            0xca, 0xb5, 0xee, 0x01, 0x48, 0x01, 0x53, 0x08, 0x01, 0x54,
        ];
        let service = GrpcService::decode(&bytes).expect("valid");
        assert_eq!(service.cluster_name, "c");
        assert_eq!(service.authority, "a");
        assert_eq!(service.timeout_ms, Some(2500));
    }

    #[test]
    fn cluster_names_are_not_services() {
        for name in [
            "outbound|50051||grpc.static",
            "grpc",
            "backend",
            "callout",
            "dead",
        ] {
            assert_eq!(
                ServiceArgument::read(name.as_bytes()),
                ServiceArgument::ClusterName(name.into()),
                "{name}"
            );
        }
    }

    #[test]
    fn deeply_nested_groups_are_refused_not_recursed() {
        // A million nested groups (field 1, START_GROUP) would overflow the host's stack.
        let deep = vec![0x0b; 1 << 20];
        assert_eq!(GrpcService::decode(&deep), None);
        assert_eq!(
            ServiceArgument::read(&deep[..4]),
            ServiceArgument::ClusterName("\u{b}\u{b}\u{b}\u{b}".into())
        );
        // Groups nested as deep as protobuf allows are skipped.
        let mut nested = vec![0x0b; 99];
        nested.extend(std::iter::repeat_n(0x0c, 99));
        assert_eq!(GrpcService::decode(&nested), Some(GrpcService::default()));
    }

    #[test]
    fn malformed_messages_are_refused() {
        // A truncated length, a bad wire type, field 0, an unterminated group, invalid UTF-8.
        for bytes in [
            &[0x0a, 0x05, 0x0a][..],
            &[0x0f, 0x00],
            &[0x00, 0x01],
            &[0x53, 0x08, 0x01],
            &[0x0a, 0x03, 0x0a, 0x01, 0xff],
        ] {
            assert_eq!(GrpcService::decode(bytes), None, "{bytes:?}");
        }
    }
}
