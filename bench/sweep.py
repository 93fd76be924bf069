#!/usr/bin/env python3
"""The scale benchmark (run through `bench/run sweep`): the plain proxy (no plugin) of
nginx, Envoy and wasmgate at several connection counts, what idle connections cost in
memory, and how fast a Go plugin starts.

- Sweep: for each connection count (default 1, 32, 256, 1024), wrk for `--duration` s:
  requests/s, p50 and p99 latency, CPU µs per request of the system's processes. The system
  runs on `--system-cpus` (taskset, every thread), wrk and the upstream nginx on
  `--load-cpus`, so the load does not take the system's core.
- Idle: `--idle` keep-alive connections (default 10,000), each after one request, held
  open; the system's resident memory (VmRSS) before and with them, per connection.
- Start: wasmgate with the Go hello plugin (wasm-go), from launch to the first 200, with an
  empty compile cache (cold) and a filled one (warm); Envoy with the same plugin.

Prints a Markdown report and writes it, the raw numbers (JSON) and the picture (SVG: requests/s
and p99 against connections, one line per system; matplotlib) to target/bench/.
"""

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from loads import make_certs, wrk
from report import fmt
from procs import (cleanup, cpu_seconds, descendants, for_envoy, http_get, log, loadavg,
                   machine, med, on_signal, vm_rss_kib)
from systems import Envoy, NginxProxy, Upstream, Wasmgate

SYSTEMS = [NginxProxy, Envoy, Wasmgate]


def pin(pids, cpus):
    """Every thread of `pids` onto `cpus` (taskset's list, e.g. `0` or `0,1`)."""
    for pid in pids:
        subprocess.run(["taskset", "-a", "-cp", cpus, str(pid)], capture_output=True)


def sweep(args, system):
    """One wrk run per connection count against a started system."""
    rows = {}
    pids = system.pids()
    for conns in args.connections:
        cpu0 = cpu_seconds(pids)
        r = wrk(args, system.port, conns, args.duration, None)
        cpu = cpu_seconds(pids) - cpu0
        rows[str(conns)] = {
            "rps": r["rps"], "p50": r["p50"], "p99": r["p99"],
            "cpu_us": cpu / r["requests"] * 1e6 if r["requests"] else None,
            "errors": r["non2xx"], "socket_errors": r["socket_errors"]}
        log(f"    {conns:>5} connections: {r['rps']:.0f} req/s, p50 {r['p50']} ms, "
            f"p99 {r['p99']} ms")
    return rows


async def hold_idle(port, count, batch=200):
    """Opens `count` connections, sends one keep-alive request on each (`batch` at a time)
    and reads its answer; returns the writers (the open connections) and how many failed."""
    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /bench HTTP/1.1\r\nhost: bench\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head[:40])
        return writer

    writers, failed = [], 0
    for start in range(0, count, batch):
        done = await asyncio.gather(*(one() for _ in range(min(batch, count - start))),
                                    return_exceptions=True)
        for d in done:
            if isinstance(d, BaseException):
                failed += 1
            else:
                writers.append(d)
    return writers, failed


def idle(args, system):
    """The system's resident memory before and with `args.idle` idle connections."""
    async def run():
        pids = system.pids()
        await asyncio.sleep(0.5)
        before = vm_rss_kib(pids)
        writers, failed = await hold_idle(system.port, args.idle)
        await asyncio.sleep(1.0)
        with_them = vm_rss_kib(system.pids())
        for w in writers:
            w.close()
        return before, with_them, len(writers), failed

    before, with_them, held, failed = asyncio.run(run())
    per = (with_them - before) / held if held else None
    log(f"    idle: {held} connections held ({failed} failed), RSS {before / 1024:.1f} -> "
        f"{with_them / 1024:.1f} MiB, {per:.2f} KiB each" if per is not None
        else f"    idle: none held ({failed} failed)")
    return {"held": held, "failed": failed, "rss_before_mib": before / 1024,
            "rss_with_mib": with_them / 1024, "kib_per_connection": per}


def go_start(args, workdir):
    """Start-up with the Go hello plugin: wasmgate cold and warm, Envoy."""
    wasm = os.path.join(args.plugins, "go", "hello.wasm")
    if not os.path.exists(wasm):
        log(f"    {wasm} is missing: no start-up measurement")
        return {}
    plugin = {"name": "hello", "wasm": wasm, "config": {"mockEnable": False},
              "envoy_wasm": for_envoy(wasm, workdir)}
    out = {}
    for cls in (Wasmgate, Envoy):
        colds, warms = [], []
        for rnd in range(args.rounds):
            run_dir = tempfile.mkdtemp(prefix=f"start-{cls.key}-", dir=workdir)
            system = cls(args, workdir, args.upstream_port)
            try:
                system.start([plugin], run_dir)
                colds.append(system.start_cold * 1000)
                if system.start_warm is not None:
                    warms.append(system.start_warm * 1000)
            finally:
                system.stop()
        out[system.name] = {"cold_ms": med(colds), "warm_ms": med(warms) if warms else None}
        log(f"    {system.name}: start with Go hello {out[system.name]}")
    return out


def measure(args, cls, workdir, n):
    run_dir = os.path.join(workdir, f"run{n}")
    os.makedirs(run_dir)
    system = cls(args, workdir, args.upstream_port)
    log(f"==> {system.name} (load {loadavg()})")
    system.start([], run_dir)
    try:
        pin(system.pids(), args.system_cpus)
        if http_get(system.port, "/bench") is None:
            raise RuntimeError(f"{system.name} does not answer")
        wrk(args, system.port, 32, 1, None)  # warm-up
        r = {"sweep": sweep(args, system)}
        if args.idle:
            r["idle"] = idle(args, system)
        if system.proc is not None and system.proc.poll() is not None:
            raise RuntimeError(f"{system.name} exited with {system.proc.returncode}")
    finally:
        system.stop()
    return system.name, r


def merge(rounds):
    """The median of each number over the rounds."""
    first = rounds[0]
    if isinstance(first, dict):
        return {k: merge([r[k] for r in rounds]) for k in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        values = [r for r in rounds if r is not None]
        return med(values) if values else None
    return first


def report(results, start, meta, picture):
    names = list(results)
    lines = [f"# wasmgate scale benchmark, {meta['date']}", "",
             f"{meta['machine']}; systems on CPU {meta['system_cpus']}, wrk and the upstream "
             f"on CPU {meta['load_cpus']} (taskset); {meta['workers']} worker(s); "
             f"{meta['duration']} s per point, median of {meta['rounds']} round(s); "
             f"load before {meta['load_before']}, after {meta['load_after']}.", "",
             "## Plain proxy by connections (no plugin)", "",
             "| connections | " + " | ".join(
                 f"{n} req/s | {n} p50 ms | {n} p99 ms | {n} CPU µs/req" for n in names) + " |",
             "|---:|" + "---:|" * (4 * len(names))]
    for conns in meta["connections"]:
        cells = []
        for n in names:
            row = results[n]["sweep"][str(conns)]
            cells += [fmt(row["rps"]), fmt(row["p50"], 2), fmt(row["p99"], 2),
                      fmt(row["cpu_us"], 1)]
        lines.append(f"| {conns} | " + " | ".join(cells) + " |")
    if picture:
        lines += ["", f"![requests/s and p99 by connections]({os.path.basename(picture)})"]
    if any("idle" in results[n] for n in names):
        lines += ["", f"## {meta['idle']:,} idle keep-alive connections", "",
                  "| system | held | RSS before MiB | RSS with them MiB | KiB per connection |",
                  "|---|---:|---:|---:|---:|"]
        for n in names:
            i = results[n].get("idle")
            if i:
                lines.append(f"| {n} | {fmt(i['held'])} | {fmt(i['rss_before_mib'], 1)} | "
                             f"{fmt(i['rss_with_mib'], 1)} | {fmt(i['kib_per_connection'], 2)} |")
    if start:
        lines += ["", "## Start-up with the Go hello plugin (launch to the first 200)", "",
                  "| system | cold (empty cache) ms | warm (cache filled) ms |", "|---|---:|---:|"]
        for n, s in start.items():
            lines.append(f"| {n} | {fmt(s['cold_ms'])} | {fmt(s['warm_ms'])} |")
    return "\n".join(lines)


def draw(results, connections, path):
    """requests/s and p99 against connections, one line per system."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("    matplotlib is missing: no picture (bench/run sweep installs it into .venv)")
        return None
    fig, (rps, p99) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, r in results.items():
        xs = [c for c in connections if r["sweep"][str(c)]["rps"]]
        rps.plot(xs, [r["sweep"][str(c)]["rps"] for c in xs], marker="o", label=name)
        p99.plot(xs, [r["sweep"][str(c)]["p99"] for c in xs], marker="o", label=name)
    for ax, title in ((rps, "requests/s"), (p99, "p99 latency, ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(connections, [str(c) for c in connections])
        ax.set_xlabel("connections")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    p99.set_yscale("log")
    rps.legend()
    fig.tight_layout()
    # Text stays text and the file is the same for the same numbers: a picture to diff.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "wasmgate"}):
        fig.savefig(path, metadata={"Date": None})
    plt.close(fig)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--connections", default="1,32,256,1024")
    ap.add_argument("--duration", type=int, default=5, help="seconds per point")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--idle", type=int, default=10000, help="idle connections (0: none)")
    ap.add_argument("--system-cpus", default="0")
    ap.add_argument("--load-cpus", default="1")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--systems", default=None, help="only these (nginx, envoy, wasmgate)")
    ap.add_argument("--no-start", action="store_true", help="no start-up measurement")
    ap.add_argument("--plugins", default=None)
    ap.add_argument("--out", default=None, help="report file (default target/bench/sweep-<date>.md)")
    ap.add_argument("--skip-setup", action="store_true", help="(handled by bench/run)")
    args = ap.parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    # Thousands of sockets in wrk, the systems and the idle clients (a limit per process;
    # the children inherit it).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = max(max(int(c) for c in args.connections.split(",")), args.idle) + 1024
    if hard < need:
        sys.exit(f"open files are limited to {hard}; this run needs {need} (ulimit -Hn)")
    args.connections = [int(c) for c in args.connections.split(",")]
    args.wrk = shutil.which("wrk") or sys.exit("wrk not found")
    args.nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(args.repo, "target")
    args.wasmgate = os.path.join(target, "release/wasmgate")
    args.plugins = args.plugins or os.path.join(args.repo, "target/plugins")
    args.certs = make_certs(os.path.join(args.repo, "target/bench/tls"))
    args.workers_now = args.workers
    args.worker_connections = args.idle + 4096
    args.load_prefix = ["taskset", "-c", args.load_cpus]
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
            "system_cpus": args.system_cpus, "load_cpus": args.load_cpus,
            "workers": args.workers, "duration": args.duration, "rounds": args.rounds,
            "connections": args.connections, "idle": args.idle, "load_before": loadavg()}

    workdir = tempfile.mkdtemp(prefix="wasmgate-sweep-")
    rounds, start = {}, {}
    try:
        upstream = Upstream(workdir, args.nginx, "")
        pin(descendants(upstream.proc.pid), args.load_cpus)
        args.upstream_port = upstream.port
        args.grpc_upstream_port = upstream.grpc_port
        n = 0
        for _ in range(args.rounds):
            for cls in SYSTEMS:
                if args.systems and cls.key not in args.systems.split(","):
                    continue
                n += 1
                try:
                    name, r = measure(args, cls, workdir, n)
                    rounds.setdefault(name, []).append(r)
                except Exception as e:  # noqa: BLE001 - reported, the run goes on
                    log(f"    FAILED: {e} (logs in {workdir}/run{n})")
        if not args.no_start:
            log("==> start-up with the Go hello plugin")
            start = go_start(args, workdir)
    finally:
        cleanup()
    results = {name: merge(rs) for name, rs in rounds.items()}
    meta["load_after"] = loadavg()
    out = args.out or os.path.join(args.repo, "target/bench",
                                   "sweep-" + time.strftime("%Y%m%d-%H%M%S") + ".md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    picture = draw(results, args.connections, out[:-3] + ".svg") if results else None
    text = report(results, start, meta, picture)
    print(text)
    with open(out, "w") as f:
        f.write(text + "\n")
    with open(out[:-3] + ".json", "w") as f:
        json.dump({"meta": meta, "results": results, "rounds": rounds, "start": start}, f,
                  indent=1)
    log(f"==> report: {out} (raw: {out[:-3]}.json; logs: {workdir})")


if __name__ == "__main__":
    main()
