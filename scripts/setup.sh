#!/usr/bin/env bash
# One command for a fresh machine: installs what is missing (the wasm32-wasip1 Rust target;
# Go modules come with the first Go build), builds wasmgate and the example plugins, and
# starts the gateway with the `hello` example in front of a built-in echo upstream.
#
#   scripts/setup.sh            # then, in another terminal: curl -i http://127.0.0.1:10000/anything
#   LISTEN=127.0.0.1:18000 scripts/setup.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
source scripts/lib.sh

ensure_tools
# build_plugins builds the C test plugins too (clang, lld, wasi-libc)
ensure_debian_tools
echo "==> building wasmgate (release)"
cargo build --release -p wasmgate
echo "==> building the example plugins"
build_plugins
listen="${LISTEN:-127.0.0.1:10000}"
echo "==> starting: target/release/wasmgate run --plugin target/plugins/rust/hello.wasm --config-json '{\"mockEnable\":false}' --upstream echo --listen $listen"
echo "    (Ctrl-C stops it; try the Go build of the same plugin with --plugin target/plugins/go/hello.wasm)"
exec target/release/wasmgate run \
    --plugin target/plugins/rust/hello.wasm --config-json '{"mockEnable":false}' \
    --upstream echo --listen "$listen"
