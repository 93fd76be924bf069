//! The proxy-wasm vocabulary shared by wasmgate's host and SDK.
//!
//! - [`types`]: the ABI's enums (status codes, log levels, map, buffer, stream and metric
//!   types, action codes) and the version markers.
//! - [`pairs`]: the header-map wire format (`u32 n`, `n × (key_len, value_len)`, then
//!   `key\0value\0` for each pair).
//! - [`path`]: the property-path format (segments joined by `\0`).
//! - [`resp`]: the Redis wire format (commands, replies, where a reply ends).
//! - [`grpc`]: the `service` argument of the gRPC calls (a cluster name or a `GrpcService`).
//! - [`inject`]: the arguments of Higress's `inject_encoded_data_to_filter_chain*` foreign
//!   functions.
//! - `wire`: the protobuf wire format those two read and write.

pub mod grpc;
pub mod inject;
pub mod pairs;
pub mod path;
pub mod resp;
pub mod types;
mod wire;

pub use types::*;
