module wasmgate.dev/bench/grpc-upstream

go 1.24
