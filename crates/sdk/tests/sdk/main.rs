//! wasmgate-sdk through real plugins in the test kit: the basics, rules, the HTTP, gRPC and Redis
//! clients, the examples and the advanced features. One test binary (each file a module), so
//! the suite links once.

mod common;

mod advanced;
mod basics;
mod examples;
mod grpc;
mod http;
mod redis;
mod rules;
mod trailers;
