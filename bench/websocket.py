"""WebSocket echo benchmark: messages/s through wasmgate and Envoy against the upstream direct.

    bench/run websocket [--connections 16] [--duration 5] [--rounds 2] [--size 64]

An echo upstream on the `websockets` library (this script with `--serve`) and a load client
on it too (`--load`): each of `--connections` WebSocket connections sends a `--size`-byte
binary message, waits for its echo, and sends the next, for `--duration` seconds; the
round trips are counted. Both peers are Python, so the client's rate is bounded by Python
more than by the proxy: the proxy's CPU time per message (from /proc, the proxy's processes
only) is the figure that compares the proxies. The plugins of a route run on the handshake
only, so the systems run with none. One worker each; Envoy with `upgrade_configs:
websocket`, wasmgate with its default (WebSocket let through). Prints a Markdown table and
writes it with the raw numbers to target/bench/websocket-<time>.{md,json}.
"""
import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs as g  # noqa: E402  (the shared process, port and /proc helpers)


# ---------------------------------------------------------------- peers (subprocess modes)

async def serve():
    from websockets.asyncio.server import serve as ws_serve

    async def echo(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except Exception:  # a closed connection ends the handler
            pass

    async with ws_serve(echo, "127.0.0.1", 0, compression=None, ping_interval=None,
                        max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().create_future()


async def load(port, connections, duration, size):
    """Round trips in `duration` s over `connections` connections; JSON on stdout."""
    from websockets.asyncio.client import connect

    payload = os.urandom(size)
    sockets = [await connect(f"ws://127.0.0.1:{port}/echo", compression=None,
                             ping_interval=None, max_size=None) for _ in range(connections)]
    counts = [0] * connections
    stop_at = time.monotonic() + duration

    async def run(i, ws):
        while time.monotonic() < stop_at:
            await ws.send(payload)
            if await ws.recv() != payload:
                raise RuntimeError("the echo differs from the message")
            counts[i] += 1

    t0 = time.monotonic()
    await asyncio.gather(*(run(i, ws) for i, ws in enumerate(sockets)))
    elapsed = time.monotonic() - t0
    for ws in sockets:
        await ws.close()
    print(json.dumps({"messages": sum(counts), "seconds": elapsed}))


# ---------------------------------------------------------------- systems

def wait_ws(python, port, proc, deadline_s=60.0):
    """Until one WebSocket round trip through `port` works, or raises."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before serving")
        probe = g.subprocess.run([python, __file__, "--load", str(port), "--connections", "1",
                                  "--duration", "0.05", "--size", "8"],
                                 capture_output=True, text=True)
        if probe.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"no WebSocket echo through port {port} within {deadline_s} s")


def start_wasmgate(args, upstream, run_dir):
    port = g.free_port()
    config = os.path.join(run_dir, "wasmgate.yaml")
    with open(config, "w") as f:
        f.write(f"listen: 127.0.0.1:{port}\nworkers: 1\naccess_log: off\n"
                f"clusters:\n  - name: upstream\n    endpoints: [127.0.0.1:{upstream}]\n"
                "routes:\n  - name: default\n    cluster: upstream\n")
    env = dict(os.environ, WASMGATE_CACHE_DIR=os.path.join(run_dir, "cache"), RUST_LOG="warn")
    proc = g.spawn([args.wasmgate, "run", "-c", config], os.path.join(run_dir, "wasmgate.log"),
                   env=env)
    return port, proc


def start_envoy(args, upstream, run_dir):
    port, admin = g.free_port(), g.free_port()
    sock = lambda p: {"socket_address": {"address": "127.0.0.1", "port_value": p}}
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "ws",
        "upgrade_configs": [{"upgrade_type": "websocket"}],
        "route_config": {"name": "ws", "virtual_hosts": [{
            "name": "all", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}
    config = {
        "admin": {"address": sock(admin)},
        "static_resources": {
            "listeners": [{"name": "ws", "address": sock(port), "filter_chains": [{"filters": [
                {"name": "envoy.filters.network.http_connection_manager",
                 "typed_config": hcm}]}]}],
            "clusters": [{"name": "upstream", "type": "STATIC", "connect_timeout": "1s",
                          "load_assignment": {"cluster_name": "upstream", "endpoints": [
                              {"lb_endpoints": [{"endpoint": {"address": sock(upstream)}}]}]}}]}}
    path = os.path.join(run_dir, "envoy.json")
    with open(path, "w") as f:
        json.dump(config, f)
    proc = g.spawn([args.envoy, "-c", path, "--disable-hot-restart", "--concurrency", "1",
                    "-l", "warn"], os.path.join(run_dir, "envoy.log"))
    return port, proc


def measure(args, port, proc):
    pids = g.descendants(proc.pid) if proc else []
    cpu0 = g.cpu_seconds(pids)
    out = g.subprocess.run([args.python, __file__, "--load", str(port),
                            "--connections", str(args.connections),
                            "--duration", str(args.duration), "--size", str(args.size)],
                           capture_output=True, text=True, check=True)
    cpu = g.cpu_seconds(pids) - cpu0
    r = json.loads(out.stdout)
    rate = r["messages"] / r["seconds"]
    return {"msgs_per_s": rate, "messages": r["messages"],
            "cpu_us_per_round_trip": (cpu * 1e6 / r["messages"]) if proc else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--envoy")
    ap.add_argument("--wasmgate")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--skip-setup", action="store_true", help="(read by bench/run)")
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--load", type=int)
    args = ap.parse_args()
    if args.serve:
        return asyncio.run(serve())
    if args.load:
        return asyncio.run(load(args.load, args.connections, args.duration, args.size))
    args.wasmgate = args.wasmgate or os.path.join(args.repo, "target/release/wasmgate")
    workdir = os.path.join(args.repo, "target/bench/websocket-" + time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(workdir)
    results = {}
    meta = {"load_before": g.loadavg(), "connections": args.connections,
            "duration_s": args.duration, "rounds": args.rounds, "size": args.size}
    try:
        up = g.subprocess.Popen([args.python, __file__, "--serve"], stdout=g.subprocess.PIPE,
                                start_new_session=True)
        g.CHILDREN.append(up)
        upstream = int(up.stdout.readline())
        systems = []  # (name, port, process): all started, then measured in turn
        for name, start in [("upstream direct", None), ("Envoy", start_envoy),
                            ("wasmgate", start_wasmgate)]:
            run_dir = os.path.join(workdir, name.split()[0].lower())
            os.makedirs(run_dir)
            port, proc = (upstream, None) if start is None else start(args, upstream, run_dir)
            wait_ws(args.python, port, proc)
            systems.append((name, port, proc))
        # Round by round, each system in turn (A/B/C/A/B/C), so a shared machine's noise
        # falls on all of them alike; the ratios are taken per round.
        for _ in range(args.rounds):
            for name, port, proc in systems:
                r = measure(args, port, proc)
                g.log(f"{name}: {r['msgs_per_s']:.0f} round trips/s, "
                      f"cpu/round trip {r['cpu_us_per_round_trip']}")
                results.setdefault(name, []).append(r)
    finally:
        g.cleanup()
    meta["load_after"] = g.loadavg()
    lines = [f"WebSocket echo, {args.connections} connections, {args.size}-byte binary messages, "
             f"{args.rounds} x {args.duration:g} s, 1 worker; load {meta['load_before']} before, "
             f"{meta['load_after']} after.", "",
             "| System | round trips/s (median) | proxy CPU per round trip |", "|---|---:|---:|"]
    for name, rs in results.items():
        rate = g.med([r["msgs_per_s"] for r in rs])
        cpus = [r["cpu_us_per_round_trip"] for r in rs if r["cpu_us_per_round_trip"] is not None]
        cpu = f"{g.med(cpus):.1f} µs" if cpus else "-"
        lines.append(f"| {name} | {rate:.0f} | {cpu} |")
    ratio = lambda key: g.med([w[key] / e[key] for w, e in
                               zip(results["wasmgate"], results["Envoy"])])
    lines += ["", f"wasmgate/Envoy, median of the per-round ratios: round trips/s "
              f"{ratio('msgs_per_s'):.2f}, CPU per round trip {ratio('cpu_us_per_round_trip'):.2f}."]
    text = "\n".join(lines)
    print(text)
    with open(workdir + ".md", "w") as f:
        f.write(text + "\n")
    with open(workdir + ".json", "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
