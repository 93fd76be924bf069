//! The protobuf arguments of the ABI: a gRPC call's `service` (a `GrpcService` or a cluster
//! name) and Higress's inject arguments. Any bytes decode or are refused; what decodes
//! encodes back to bytes that decode to the same value. Found: nested groups recursed
//! without a limit (a guest's `service` of 1 MiB overflowed the host's stack).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmgate_abi::grpc::{GrpcService, ServiceArgument};
use wasmgate_abi::inject::InjectArguments;

fuzz_target!(|data: &[u8]| {
    check(data);
    // The input repeated up to ~64 KiB: what a guest can pass is not bound by the fuzzer's
    // input size (deep nesting, long runs).
    if !data.is_empty() {
        check(&data.repeat((1 << 16) / data.len()));
    }
});

fn check(data: &[u8]) {
    if let ServiceArgument::Service(service) = ServiceArgument::read(data) {
        // A timeout keeps its milliseconds through encode; the rest round-trips exactly.
        let again = GrpcService::decode(&service.encode()).expect("an encoded service decodes");
        assert_eq!(again.cluster_name, service.cluster_name);
        assert_eq!(again.authority, service.authority);
        assert_eq!(again.timeout_ms, service.timeout_ms);
    }
    if let Some(arguments) = InjectArguments::decode(data) {
        let again = InjectArguments::decode(&arguments.encode()).expect("encoded arguments decode");
        assert_eq!(again, arguments);
    }
}
