#!/usr/bin/env python3
"""Instructions per request through the gateway, counted by valgrind's callgrind (run
through `bench/run counts`): the same count for the same binary and inputs whatever else
the machine does.

For each case and run: the system (the release wasmgate with the case's plugins, or nginx as
a reverse proxy, one process) starts under callgrind; one keep-alive connection sends
`--warmup` requests; `callgrind_control --zero` clears the counts; the same connection sends
`--requests` N requests one after the other; `callgrind_control --dump` writes the counts;
the system stops. Instructions per request = the dump's total / N (user space only: the
kernel's share of a request, its system calls, is not counted). A plugin's cost is its
case's count less the no-plugin count. The breakdown (`callgrind_annotate`, self cost) of
the first run of each case groups the functions by crate.

wasmgate loads compiled plugin code from a cache that a start under valgrind without a tool
filled (see `fill_cache`), so no compiler runs under callgrind.
"""

import argparse
import glob
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from gateway import cases
from loads import make_certs
from procs import cleanup, log, on_signal, spawn, stop, wait_served
from systems import NginxProxy, Upstream, Wasmgate

CASES = ["baseline", "rust", "go", "chain3", "body64k"]


def callgrind(argv, out, logfile, env=None):
    """The process of argv under callgrind (counting from the start), its dumps to out.*."""
    return spawn(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                  "--dump-instr=no", "--compress-strings=no", "--quiet"] + argv,
                 logfile, env=env)


def control(pid, what):
    subprocess.run(["callgrind_control", what, str(pid)], check=True, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def requests(port, n, case):
    """n requests on one keep-alive connection, each checked."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = b"a" * case["body"] if case.get("body") else None
    headers = {"x-probe": "body", "content-type": "application/octet-stream"} if body else {}
    try:
        for _ in range(n):
            conn.request("POST" if body else "GET", "/", body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            ok = r.status == 200
            if case.get("expect"):
                ok = ok and data.decode(errors="replace").strip().endswith(case["expect"])
            if body:
                ok = ok and data.endswith(b"-tail")
            if not ok:
                raise RuntimeError(f"unexpected answer {r.status} {data[:200]!r}")
    finally:
        conn.close()


def total_ir(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"{path} has no totals")


def launch(args, system_key, case, run_dir):
    """(process, port) of the system started under callgrind for the case."""
    out = os.path.join(run_dir, "callgrind.out")
    if system_key == "nginx":
        nginx = NginxProxy(args, run_dir, args.upstream_port)
        conf = nginx.write_config(run_dir)
        argv = [args.nginx, "-p", run_dir, "-c", conf, "-g", "daemon off; master_process off;"]
        return callgrind(argv, out, os.path.join(run_dir, "nginx.log")), nginx.port, out
    gate = Wasmgate(args, run_dir, args.upstream_port)
    config = gate.write_config(case["plugins"], run_dir)
    argv = [args.wasmgate, "run", "-c", config]
    env = dict(os.environ, WASMGATE_CACHE_DIR=args.cache, RUST_LOG="warn")
    if case["plugins"]:
        fill_cache(argv, env, gate.port, run_dir)
    return callgrind(argv, out, os.path.join(run_dir, "wasmgate.log"), env), gate.port, out


def fill_cache(argv, env, port, run_dir):
    """Compiles the plugins into the cache under valgrind without a tool: wasmtime keys its
    cache by the CPU features it detects, and valgrind's CPU has fewer than the machine's,
    so code compiled outside valgrind would be compiled again (in the background, and
    counted) under callgrind. Once per plugin and cache: later starts find it."""
    log("    compiling the plugins for valgrind's CPU (cached for the next runs)")
    proc = spawn(["valgrind", "--tool=none", "--quiet"] + argv,
                 os.path.join(run_dir, "fill-cache.log"),
                 env=dict(env, WASMGATE_QUICK_START="0"))
    try:
        wait_served(port, proc, 1800)
    finally:
        stop(proc)


def measure(args, system_key, case, run_dir):
    """Instructions per request and the dump file of one run."""
    proc, port, out = launch(args, system_key, case, run_dir)
    try:
        wait_served(port, proc, 300)
        requests(port, args.warmup, case)
        control(proc.pid, "--zero")
        requests(port, args.requests, case)
        control(proc.pid, "--dump")
    finally:
        stop(proc)
    dumps = sorted(glob.glob(out + ".*"))
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump in {run_dir}")
    return total_ir(dumps[0]) / args.requests, dumps[0]


# ---------------------------------------------------------------- breakdown

CRATE = re.compile(r"^[<&*\s]*(?:dyn\s+)?([A-Za-z_][A-Za-z0-9_]*)::")


def group_of(function, obj):
    """What a function belongs to: its crate, or its library, or the plugin's code."""
    if function.startswith("0x") or function == "???":
        known = obj and obj != "???" and os.path.exists(obj)
        return f"{os.path.basename(obj)} (no symbols)" if known else "plugin code (JIT)"
    m = CRATE.match(function)
    if m:
        return m.group(1)
    if "libc.so" in obj or "ld-linux" in obj:
        return "libc"
    return os.path.basename(obj) if obj else "?"


def self_costs(dump):
    """{(function, object): self instructions} of a callgrind file (written with
    `--compress-strings=no`): every cost line of a function except the inclusive cost that
    follows each `calls=` line. (callgrind_annotate 3.19 shows the functions that were on
    the stack at `--zero` with the whole count as their self cost.)"""
    costs, function, obj, callee_line = {}, None, "", False
    with open(dump) as f:
        for line in f:
            if line.startswith("fn="):
                function = line[3:].strip()
            elif line.startswith("ob="):
                obj = line[3:].strip()
            elif line.startswith("calls="):
                callee_line = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if callee_line:
                    callee_line = False
                    continue
                fields = line.split()
                if function is not None and len(fields) >= 2:
                    key = (function, obj)
                    costs[key] = costs.get(key, 0) + int(fields[1])
    return costs


def breakdown(dump, top):
    """(by group, top functions) of a dump: self instructions, largest first."""
    rows = sorted(((ir, fn, obj) for (fn, obj), ir in self_costs(dump).items() if ir),
                  reverse=True)
    groups = {}
    for ir, function, obj in rows:
        g = group_of(function, obj)
        groups[g] = groups.get(g, 0) + ir
    by_group = sorted(groups.items(), key=lambda kv: -kv[1])
    return by_group, rows[:top]


# ---------------------------------------------------------------- report

def report(results, meta, top):
    n = meta["requests"]
    out = [f"Instruction counts of {meta['date']} (callgrind, user space; {n} requests on one "
           f"keep-alive connection after {meta['warmup']} of warm-up, {meta['runs']} runs "
           "per case, each a fresh process; wasmgate release build, 1 worker; nginx 1 "
           "process, upstream keep-alive).", "",
           "| case | system | instructions / request | runs | spread | over no plugin |",
           "|---|---|---:|---|---:|---:|"]
    base = {s: r["per_request"] for (c, s), r in results.items() if c == "baseline"}
    for (case, system), r in results.items():
        runs = r["runs"]
        spread = (max(runs) - min(runs)) / min(runs) * 100 if runs and min(runs) else 0
        extra = ("–" if case == "baseline" or system not in base
                 else f"{r['per_request'] - base[system]:,.0f}")
        out.append(f"| {r['title']} | {system} | {r['per_request']:,.0f} | "
                   f"{' / '.join(f'{x:,.0f}' for x in runs)} | {spread:.2f}% | {extra} |")
    out.append("")
    for (case, system), r in results.items():
        if not r.get("groups"):
            continue
        total = sum(ir for _, ir in r["groups"]) or 1
        out.append(f"#### Where the instructions go: {r['title']}, {system} "
                   "(self cost per request)")
        out.append("")
        out.append("| crate or library | instructions / request | share |")
        out.append("|---|---:|---:|")
        for g, ir in r["groups"][:12]:
            out.append(f"| {g} | {ir / n:,.0f} | {ir / total * 100:.1f}% |")
        out.append("")
        out.append(f"Top {top} functions:")
        out.append("")
        out.append("| instructions / request | function |")
        out.append("|---:|---|")
        for ir, function, _ in r["top"]:
            name = function if len(function) <= 110 else function[:107] + "…"
            out.append(f"| {ir / n:,.0f} | `{name.replace('|', '¦')}` |")
        out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--systems", default="wasmgate,nginx",
                    help="wasmgate, nginx (nginx only counts the no-plugin case)")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--top", type=int, default=15, help="functions shown per breakdown")
    ap.add_argument("--plugins", default=None,
                    help="folder with rust/ and go/ plugin builds (default <repo>/target/plugins)")
    ap.add_argument("--wasmgate", default=None,
                    help="the binary to count (default <target>/release/wasmgate)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--envoy", default=None, help="(unused: Envoy is not counted)")
    ap.add_argument("--skip-setup", action="store_true", help="(handled by bench/run)")
    args = ap.parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: install Debian's valgrind")
    args.nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(args.repo, "target")
    args.wasmgate = args.wasmgate or os.path.join(target, "release/wasmgate")
    args.certs = make_certs(os.path.join(args.repo, "target/bench/tls"))
    args.workers_now = 1
    all_cases = cases(args.repo, args.plugins)
    selected = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in selected:
        if c not in CASES:
            sys.exit(f"unknown case {c}; known: {', '.join(CASES)}")
    systems = [s.strip() for s in args.systems.split(",")]
    workdir = tempfile.mkdtemp(prefix="wasmgate-counts-")
    args.cache = os.path.join(workdir, "cache")
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "requests": args.requests, "warmup": args.warmup, "runs": args.runs}
    results = {}
    try:
        upstream = Upstream(workdir, args.nginx, "/nonexistent")
        args.upstream_port, args.grpc_upstream_port = upstream.port, upstream.grpc_port
        n = 0
        for c in selected:
            case = all_cases[c]
            for system in systems:
                if system == "nginx" and case["plugins"]:
                    continue
                runs, first_dump = [], None
                for rnd in range(args.runs):
                    n += 1
                    run_dir = os.path.join(workdir, f"run{n}")
                    os.makedirs(run_dir)
                    log(f"==> counts: case={c} system={system} run={rnd + 1}")
                    per_request, dump = measure(args, system, case, run_dir)
                    log(f"    {per_request:,.0f} instructions / request ({dump})")
                    runs.append(per_request)
                    first_dump = first_dump or dump
                groups, top = breakdown(first_dump, args.top)
                results[(c, system)] = {"title": case["title"], "runs": runs,
                                        "per_request": statistics.median(runs),
                                        "groups": groups, "top": top, "dump": first_dump}
    finally:
        cleanup()
    text = report(results, meta, args.top)
    print(text)
    out = args.out or os.path.join(args.repo, "target/bench",
                                   "counts-" + time.strftime("%Y%m%d-%H%M%S") + ".md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(text + "\n")
    with open(out[:-3] + ".json", "w") as f:
        json.dump({"meta": meta, "results": {f"{c}/{s}": r for (c, s), r in results.items()}},
                  f, indent=1)
    log(f"==> report: {out} (callgrind files in {workdir})")


if __name__ == "__main__":
    main()
