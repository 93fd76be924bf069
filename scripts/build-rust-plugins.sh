#!/usr/bin/env bash
# Build the Rust plugins, the examples a user copies (examples/rust: stock proxy-wasm SDK and
# wasmgate-sdk) and the fixture plugins that test wasmgate (tests/plugins), and copy each one
# to OUTDIR/<crate-name>.wasm. Each directory is its own cargo workspace; every member (a
# directory with a Cargo.toml) is one plugin.
#
# Usage: scripts/build-rust-plugins.sh OUTDIR
# Env:   CARGO_TARGET_DIR  (default: <repo>/target/examples)
#        CARGO_BUILD_JOBS  (default: 1; this machine has 2 cores)
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
workspaces=("$repo/examples/rust" "$repo/tests/plugins")
target=wasm32-wasip1

export CARGO_TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-$repo/target/examples}")"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx "$target"; then
        rustup target add "$target" || {
            echo "error: could not install the Rust target $target (rustup target add $target)" >&2
            exit 1
        }
    fi
fi

mkdir -p "$1"
outdir="$(cd "$1" && pwd)"
for workspace in "${workspaces[@]}"; do
    locked=()
    [[ -f "$workspace/Cargo.lock" ]] && locked=(--locked)
    (cd "$workspace" && cargo build --release "${locked[@]}" --target "$target")
    for manifest in "$workspace"/*/Cargo.toml; do
        name="$(basename "$(dirname "$manifest")")"
        src="$CARGO_TARGET_DIR/$target/release/${name//-/_}.wasm"
        dst="$outdir/$name.wasm"
        cp "$src" "$dst"
        printf '%-24s %8d bytes  %s\n' "$name" "$(wc -c <"$dst")" "$dst"
    done
done
