#!/usr/bin/env bash
# The latency of a normal request through the `faults` plugin (tests/plugins/faults) alone,
# next to one and next to four requests that loop in the same plugin, on one worker with a
# 1 s call time limit (docs/reliability.md, "Long guest calls"). Needs a release build and
# the plugins: `cargo build --release -p wasmgate` and scripts/build-rust-plugins.sh.
#   bench/long-calls.sh [path/to/wasmgate]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wasmgate="${1:-$repo/target/release/wasmgate}"
plugin="$repo/target/plugins/rust/faults.wasm"
gateway_port="${GATEWAY_PORT:-18000}"
echo_port="${ECHO_PORT:-18080}"
dir="$(mktemp -d)"
"$wasmgate" echo --listen "127.0.0.1:$echo_port" >/dev/null 2>&1 &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
cat > "$dir/wasmgate.yaml" <<EOF
listen: 127.0.0.1:$gateway_port
workers: 1
plugin_call_timeout_ms: 1000
clusters:
  - name: echo
    endpoints: [127.0.0.1:$echo_port]
routes:
  - name: r
    cluster: echo
plugins:
  - name: faults
    wasm: $plugin
EOF
"$wasmgate" run -c "$dir/wasmgate.yaml" >"$dir/gateway.log" 2>&1 &
pids+=($!)
sleep 2
url="http://127.0.0.1:$gateway_port/f"
normal() {
    for _ in 1 2 3; do
        curl -s -o /dev/null -w '  normal %{http_code} %{time_total} s\n' -H "x-fault: none" "$url"
    done
}
echo "alone:"
normal
for loops in 1 4; do
    looping=()
    for _ in $(seq "$loops"); do
        curl -s -o /dev/null -w '  loop %{http_code} %{time_total} s\n' -H "x-fault: loop" "$url" &
        looping+=($!)
    done
    sleep 0.5
    echo "next to $loops looping:"
    normal
    wait "${looping[@]}"
    sleep 0.5
done
echo "spare VMs built: $(grep -c 'built VM' "$dir/gateway.log" || true)"
