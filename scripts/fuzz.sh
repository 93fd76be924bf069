#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for a bounded time (FUZZ_SECONDS each, default 20) from
# its seeds (fuzz/seeds/<target>, committed) and a working corpus under the target
# directory. Built with `--dev` (see fuzz/Cargo.toml: a release build with libFuzzer's
# instrumentation takes far past CI's budget) and without a sanitizer (`-s none`: the code
# is safe Rust); debug assertions and overflow checks are on.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
#   bash scripts/fuzz.sh [TARGET...]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
source scripts/lib.sh
ensure_fuzz_tools

seconds="${FUZZ_SECONDS:-20}"
target_dir="${CARGO_TARGET_DIR:-$repo/target}/fuzz"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "==> cargo fuzz build (${targets[*]})"
cargo +nightly fuzz build --dev -s none --target-dir "$target_dir"
for target in "${targets[@]}"; do
    corpus="$target_dir/corpus/$target"
    mkdir -p "$corpus"
    seeds=()
    if [ -d "fuzz/seeds/$target" ]; then
        seeds=("fuzz/seeds/$target")
    fi
    echo "==> fuzz $target for ${seconds}s"
    cargo +nightly fuzz run --dev -s none --target-dir "$target_dir" "$target" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1
done
