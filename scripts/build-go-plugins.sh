#!/usr/bin/env bash
# Build the Go proxy-wasm example plugins in examples/go to OUTDIR/<name>.wasm.
#
# usage: scripts/build-go-plugins.sh OUTDIR [NAME...]
# env:   WASMGATE_GO_SRC  another Go module to build instead of examples/go (absolute, or
#                         relative to the repo root), e.g. tests/conformance/go
#
# Every direct subdirectory of the module holding a `package main` is one
# plugin, built with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared. A plugin
# whose output is newer than all its inputs (its non-test .go files, those of
# shared non-plugin packages, go.mod and go.sum) is skipped. Needs only
# Go >= 1.24.1 (modules come from the Go module proxy; go.sum is committed).
set -euo pipefail

if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
    echo "usage: $0 OUTDIR [NAME...]" >&2
    exit 2
fi

export GOTOOLCHAIN=local GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src_root="${WASMGATE_GO_SRC:-examples/go}"
[[ $src_root == /* ]] || src_root="$repo_root/$src_root"
[[ -f $src_root/go.mod ]] || { echo "error: no go.mod in $src_root" >&2; exit 1; }
mkdir -p "$1"
out_dir=$(cd "$1" && pwd)
shift
wanted=("$@")

command -v go >/dev/null || { echo "error: go not found in PATH" >&2; exit 1; }

# True if any input of plugin directory $2 is newer than $1: its own
# non-test .go files, go.mod/go.sum, and the .go files of shared packages
# (any directory of the module except the other plugins).
inputs_newer_than() {
    local out=$1 self=$2 p prune=()
    for p in "${plugins[@]}"; do
        [[ $p == "$self" ]] || prune+=(-path "$p" -prune -o)
    done
    [[ -n $(find "$src_root" "${prune[@]}" -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \) \
        -newer "$out" -print -quit) ]]
}

is_wanted() {
    local name=$1 w
    [[ ${#wanted[@]} -eq 0 ]] && return 0
    for w in "${wanted[@]}"; do [[ $w == "$name" ]] && return 0; done
    return 1
}

# A plugin is a direct subdirectory with a non-test Go file declaring
# package main.
plugins=()
shopt -s nullglob
for dir in "$src_root"/*/; do
    dir=${dir%/}
    gofiles=()
    for f in "$dir"/*.go; do [[ $f == *_test.go ]] || gofiles+=("$f"); done
    [[ ${#gofiles[@]} -gt 0 ]] || continue
    if grep -qE '^package[[:space:]]+main([[:space:]]|$)' "${gofiles[@]}"; then
        plugins+=("$dir")
    fi
done
shopt -u nullglob

found=0
for dir in "${plugins[@]}"; do
    name=$(basename "$dir")
    is_wanted "$name" || continue
    found=$((found + 1))

    out="$out_dir/$name.wasm"
    if [[ -f $out ]] && ! inputs_newer_than "$out" "$dir"; then
        echo "up-to-date $name -> $out ($(wc -c <"$out") bytes)"
        continue
    fi
    tmp="$out.tmp.$$"
    trap 'rm -f "$tmp"' EXIT
    start=$SECONDS
    (cd "$dir" && go build -buildvcs=false -trimpath -buildmode=c-shared -o "$tmp" .)
    mv -f "$tmp" "$out"
    trap - EXIT
    echo "built      $name -> $out ($(wc -c <"$out") bytes, $((SECONDS - start))s)"
done

if [[ $found -eq 0 ]]; then
    echo "error: no matching Go plugin under $src_root${wanted:+ (wanted: ${wanted[*]})}" >&2
    exit 1
fi
