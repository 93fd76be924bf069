#!/usr/bin/env bash
# Builds the C plugins written for the tests (tests/conformance/c/*.c) into OUT_DIR, one
# NAME.wasm each, with Debian's clang for wasm32-wasi (wasi-libc, lld), as a reactor
# module (`_initialize`, no `main`). Usage: build-c-plugins.sh OUT_DIR
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: build-c-plugins.sh OUT_DIR}"
mkdir -p "$out"
src="${WASMGATE_C_SRC:-$repo/tests/conformance/c}"
for file in "$src"/*.c; do
    name="$(basename "$file" .c)"
    clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 -Wall -Werror \
        -o "$out/$name.wasm" "$file"
    echo "==> built $out/$name.wasm"
done
