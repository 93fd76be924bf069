#!/usr/bin/env python3
"""Gateway benchmarks (run through bench/run, which installs and builds first).

For each case and round, each system in turn (A/B/A/B): start it, time the start-up to the
first served request, warm up, then wrk at 32 connections and at 1 connection; CPU time of
the system's processes (utime+stime) over the 32-connection run divided by its requests;
peak RSS (VmHWM, summed over the system's processes) at the end. The upstream is an nginx
answering a small static reply on 127.0.0.1.

The cases of the other protocols (`tls-*`, `h2-*`, `h2c-*`, `handshake`) measure one load
of 32 requests in flight (wrk over https; h2load with ALPN h2 over TLS, or h2c with prior
knowledge in cleartext), and `handshake` a new TLS connection per request (wrk sending
`Connection: close`). Each system then listens on a plain port (HTTP/1.1, and h2c where it
detects it on the same port) and a TLS port, with an EC P-256 certificate made by the bench.
"""

import argparse
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

from loads import PROTOS, load, make_certs, wrk
from procs import (cleanup, cpu_seconds, for_envoy, http_get, log, loadavg, machine, on_signal,
                   vm_hwm_kib, wait_served)
from report import GROUPS, METRICS, fmt, report
from systems import (GRPC_PATH, GRPC_REQUEST, Direct, Envoy, NginxProxy, Upstream,
                     Wasmgate)


# ---------------------------------------------------------------- cases

def plugin(plugins_dir, name, lang, config, alias=None):
    return {"name": alias or name, "wasm": os.path.join(plugins_dir, lang, f"{name}.wasm"),
            "config": config}


def cases(repo, plugins_dir=None):
    plugins_dir = plugins_dir or os.path.join(repo, "target/plugins")
    off = {"mockEnable": False}
    plugin_sets = {
        "baseline": ("no plugin", [], [NginxProxy, Envoy, Wasmgate], None),
        "rust": ("1 plugin: Rust sdk-hello", [plugin(plugins_dir, "sdk-hello", "rust", off)],
                 [Envoy, Wasmgate], "hello=world"),
        "go": ("1 plugin: Go hello", [plugin(plugins_dir, "hello", "go", off)],
               [Envoy, Wasmgate], "hello=world"),
    }
    more = {}
    for proto, (prefix, title) in PROTOS.items():
        for key, (ptitle, plugins, systems, expect) in plugin_sets.items():
            more[f"{prefix}-{key}"] = {"title": f"{title}: {ptitle}", "proto": proto,
                                       "plugins": [dict(p) for p in plugins],
                                       "systems": systems, "expect": expect}
    more["grpc-baseline"]["systems"] = [Direct, NginxProxy, Envoy, Wasmgate]
    more["handshake"] = {"title": "full TLS handshakes (openssl s_time -new, no request)",
                         "proto": "handshake", "plugins": [],
                         "systems": [NginxProxy, Envoy, Wasmgate]}
    more["handshake-resumed"] = {"title": "a new TLS connection per request, resumed by "
                                          "ticket (wrk, https, Connection: close)",
                                 "proto": "resumed", "plugins": [],
                                 "systems": [NginxProxy, Envoy, Wasmgate]}
    plain = {
        "baseline": {"title": "no plugin", "plugins": [],
                     "systems": [Direct, NginxProxy, Envoy, Wasmgate]},
        "rust": {"title": "1 plugin: Rust sdk-hello (wasmgate-sdk)",
                 "plugins": [plugin(plugins_dir, "sdk-hello", "rust", off)],
                 "systems": [Envoy, Wasmgate], "expect": "hello=world"},
        "go": {"title": "1 plugin: Go hello (wasm-go)",
               "plugins": [plugin(plugins_dir, "hello", "go", off)],
               "systems": [Envoy, Wasmgate], "expect": "hello=world"},
        "chain3": {"title": "3 plugins: Rust sdk-hello, hello, minimal",
                   "plugins": [plugin(plugins_dir, "sdk-hello", "rust", off),
                               plugin(plugins_dir, "hello", "rust", off, "hello-rs"),
                               plugin(plugins_dir, "minimal", "rust", {})],
                   "systems": [Envoy, Wasmgate], "expect": "hello=world"},
        "body64k": {"title": "64 KiB request body buffered by abi-probe (x-probe: body)",
                    "plugins": [plugin(plugins_dir, "abi-probe", "rust", {})],
                    "systems": [Envoy, Wasmgate], "body": 64 * 1024},
    }
    return plain | more


def curl_h2(url, tls):
    """(status, body) of one HTTP/2 GET with curl, or raises."""
    argv = ["curl", "-sS", "--max-time", "5", "-o", "-", "-w", "\n%{http_code} %{http_version}"]
    argv += ["-k", "--http2"] if tls else ["--http2-prior-knowledge"]
    out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=10)
    body, _, tail = out.stdout.rpartition("\n")
    code, _, version = tail.partition(" ")
    if version != "2":
        raise RuntimeError(f"not HTTP/2: {out.stdout!r} {out.stderr!r}")
    return int(code), body


def check_grpc(args, port, expect):
    """One gRPC call with nghttp (curl 7.88 does not show these trailers): 200,
    `grpc-status: 0` in the trailers, and the plugin's `hello` header seen upstream
    (`x-hello`) when `expect` says so."""
    argv = ["nghttp", "-v", "-t", "5", "-d", args.grpc_request,
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            f"http://127.0.0.1:{port}{GRPC_PATH}"]
    out = subprocess.run(argv, capture_output=True, timeout=10)
    head = out.stdout.decode(errors="replace").lower()
    ok = ":status: 200" in head and "grpc-status: 0" in head
    if expect:
        ok = ok and f"x-hello: {expect.split('=', 1)[1]}" in head
    if not ok:
        raise RuntimeError(f"gRPC check failed: {head!r} {out.stderr!r}")


def check(case, system):
    """One request through the system: the plugins did what they do. Returns what the TLS
    handshake negotiated, for the TLS cases."""
    proto, port, facts = case.get("proto", "h1"), system.port, {}
    if proto in ("h1tls", "handshake", "resumed"):
        ctx = ssl.create_default_context(cafile=system.args.certs[0])
        ctx.set_alpn_protocols(["http/1.1"])
        r = http_get(system.tls_port, timeout=5, tls=ctx, facts=facts)
        ok = r is not None and r[0] == 200
        if ok and case.get("expect"):
            ok = r[2].decode(errors="replace").strip().endswith(case["expect"])
        if not ok:
            raise RuntimeError(f"check failed: {r!r}")
        return facts
    if proto == "grpc":
        check_grpc(system.args, system.h2c_port, case.get("expect"))
        return {}
    if proto in ("h2tls", "h2c"):
        tls = proto == "h2tls"
        url = (f"https://127.0.0.1:{system.tls_port}/" if tls
               else f"http://127.0.0.1:{system.h2c_port}/")
        code, body = curl_h2(url, tls)
        if code != 200 or (case.get("expect") and not body.strip().endswith(case["expect"])):
            raise RuntimeError(f"check failed: {code} {body!r}")
        return {"alpn": "h2"} if tls else {}
    if case.get("body"):
        r = http_get(port, headers={"x-probe": "body"}, body=b"a" * case["body"], timeout=5)
        ok = r is not None and r[0] == 200 and r[2].endswith(b"-tail")
    else:
        r = http_get(port, timeout=5)
        ok = r is not None and r[0] == 200
        if ok and case.get("expect"):
            ok = r[2].decode(errors="replace").strip().endswith(case["expect"])
    if not ok:
        raise RuntimeError(f"check failed: {r!r}")
    return facts


# ---------------------------------------------------------------- main

def measure(args, system, case, plugins, run_dir, script):
    proto = case.get("proto", "h1")
    system.start(plugins, run_dir)
    try:
        tls_facts = check(case, system)
        if args.warmup:
            load(args, proto, system, args.warmup, script)
        pids = system.pids()
        cpu0 = cpu_seconds(pids)
        w32 = load(args, proto, system, args.duration, script)
        cpu1 = cpu_seconds(pids)
        # The other protocols are measured at 32 in flight only (a bounded run).
        w1 = (wrk(args, system.port, 1, args.duration, script) if proto == "h1"
              else {"rps": None, "p50": None, "p99": None, "non2xx": 0, "socket_errors": ""})
        if system.proc is not None and system.proc.poll() is not None:
            raise RuntimeError(f"{system.name} exited with {system.proc.returncode} under load")
        rss = vm_hwm_kib(system.pids()) / 1024 if pids else None
    finally:
        system.stop()
        shutil.rmtree(os.path.join(run_dir, "cache"), ignore_errors=True)
    return {
        "tls": tls_facts,
        "mean_32": w32["mean"],
        "rps32": w32["rps"], "p50_32": w32["p50"], "p99_32": w32["p99"],
        "rps1": w1["rps"], "p50_1": w1["p50"], "p99_1": w1["p99"],
        "cpu_us": (cpu1 - cpu0) / w32["requests"] * 1e6 if pids and w32["requests"] else None,
        "client_cpu_us": w32["client_cpu"] / w32["requests"] * 1e6 if w32["requests"] else None,
        "client_cpu_pct": w32["client_cpu"] / w32.get("wall", args.duration) * 100,
        "rss_mib": rss,
        "start_cold_ms": system.start_cold * 1000 if system.start_cold is not None else None,
        "start_warm_ms": (system.start_warm * 1000 if system.start_warm is not None
                          else (system.start_cold * 1000 if system.start_cold is not None
                                else None)),
        "errors": w32["non2xx"] + w1["non2xx"],
        "socket_errors": [w32["socket_errors"], w1["socket_errors"]],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--envoy", required=True)
    ap.add_argument("--workers", default="1", help="comma-separated worker counts, e.g. 1,2")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per start")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--cases", default="baseline,rust,go,chain3,body64k",
                    help="comma-separated case names (or 'plain', 'tls', 'h2', 'h2c', 'grpc', 'all')")
    ap.add_argument("--plugins", default=None,
                    help="folder with rust/ and go/ plugin builds (default <repo>/target/plugins)")
    ap.add_argument("--systems", default=None,
                    help="only these systems (comma-separated: direct, nginx, envoy, wasmgate)")
    ap.add_argument("--handshake-clients", type=int, default=4,
                    help="openssl s_time processes in parallel (case handshake)")
    ap.add_argument("--h2-clients", type=int, default=8, help="h2load connections")
    ap.add_argument("--h2-streams", type=int, default=4, help="h2load streams per connection")
    ap.add_argument("--out", default=None, help="report file (default target/bench/<date>.md)")
    ap.add_argument("--skip-setup", action="store_true", help="(handled by bench/run)")
    args = ap.parse_args()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    args.wrk = shutil.which("wrk") or sys.exit("wrk not found")
    args.nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(args.repo, "target")
    args.wasmgate = os.path.join(target, "release/wasmgate")
    args.grpc_upstream = os.path.join(args.repo, "target/bench/grpc-upstream")
    all_cases = cases(args.repo, args.plugins)
    groups = {"plain": ["baseline", "rust", "go", "chain3", "body64k"]}
    for prefix in ("tls", "h2", "h2c", "grpc"):
        groups[prefix] = [f"{prefix}-{k}" for k in ("baseline", "rust", "go")]
    groups["all"] = list(all_cases)
    selected = []
    for c in (c.strip() for c in args.cases.split(",")):
        for name in groups.get(c, [c] if c else []):
            if name not in selected:
                selected.append(name)
    if any(all_cases[c].get("proto") in ("h2tls", "h2c", "grpc")
           for c in selected if c in all_cases):
        args.h2load = shutil.which("h2load") or sys.exit("h2load not found (nghttp2-client)")
    args.certs = make_certs(os.path.join(args.repo, "target/bench/tls"))
    for c in selected:
        if c not in all_cases:
            sys.exit(f"unknown case {c}; known: {', '.join(all_cases)}")

    workdir = tempfile.mkdtemp(prefix="wasmgate-bench-")
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    meta = {"date": date, "rounds": args.rounds, "duration": args.duration,
            "warmup": args.warmup, "wrk_threads": args.wrk_threads, "machine": machine(),
            "h2_clients": args.h2_clients, "h2_streams": args.h2_streams,
            "handshake_clients": args.handshake_clients,
            "load_before": loadavg(), "argv": sys.argv[1:]}
    results = {}
    try:
        upstream = Upstream(workdir, args.nginx, args.grpc_upstream)
        if upstream.grpc is None and any(all_cases[c].get("proto") == "grpc" for c in selected):
            sys.exit(f"{args.grpc_upstream} is missing: run bench/run without --skip-setup")
        if upstream.grpc:
            wait_served(upstream.grpc_port, upstream.grpc, 10)
        args.grpc_upstream_port = upstream.grpc_port
        args.grpc_request = os.path.join(workdir, "grpc-request.bin")
        with open(args.grpc_request, "wb") as f:
            f.write(GRPC_REQUEST)
        script = None
        for c in selected:
            case = all_cases[c]
            for p in case["plugins"]:
                p["envoy_wasm"] = for_envoy(p["wasm"], workdir)
            if case.get("body"):
                script = os.path.join(workdir, "body.lua")
                with open(script, "w") as f:
                    f.write('wrk.method = "POST"\n'
                            f'wrk.body = string.rep("a", {case["body"]})\n'
                            'wrk.headers["x-probe"] = "body"\n'
                            'wrk.headers["Content-Type"] = "application/octet-stream"\n')
            case["script"] = script if case.get("body") else None
        n = 0
        for workers in [int(w) for w in args.workers.split(",")]:
            args.workers_now = workers
            by_case = results.setdefault(str(workers), {})
            for c in selected:
                case = all_cases[c]
                entry = by_case.setdefault(c, {"title": case["title"], "systems": {},
                                               "proto": case.get("proto", "h1")})
                for rnd in range(args.rounds):
                    for cls in case["systems"]:
                        if args.systems and cls.key not in args.systems.split(","):
                            continue
                        n += 1
                        run_dir = os.path.join(workdir, f"run{n}")
                        os.makedirs(run_dir)
                        system = cls(args, workdir, upstream.port)
                        log(f"==> workers={workers} case={c} round={rnd + 1} {system.name} "
                            f"(load {loadavg()})")
                        try:
                            r = measure(args, system, case, case["plugins"], run_dir,
                                        case["script"])
                        except Exception as e:  # noqa: BLE001 - reported, run goes on
                            log(f"    FAILED: {e} (logs in {run_dir})")
                            r = {k: None for k, _, _ in METRICS}
                            r["errors"] = 0
                            r["failed"] = str(e)
                        shown = next(m for p, _, m in GROUPS if p == entry["proto"])
                        log("    " + ", ".join(f"{k}={fmt(r.get(k), d)}" for k, _, d in shown))
                        entry["systems"].setdefault(system.name, []).append(r)
    finally:
        cleanup()
    meta["load_after"] = loadavg()
    text = report(results, meta)
    print(text)
    out = args.out or os.path.join(args.repo, "target/bench",
                                   time.strftime("%Y%m%d-%H%M%S") + ".md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(text + "\n")
    with open(out[:-3] + ".json", "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    log(f"==> report: {out} (raw: {out[:-3]}.json; logs: {workdir})")


if __name__ == "__main__":
    main()
