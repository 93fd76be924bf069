#!/usr/bin/env python3
"""Gateway benchmarks (run through bench/run, which installs and builds first).

For each case and round, each system in turn (A/B/A/B): start it, time the start-up to the
first served request, warm up, then wrk at 32 connections and at 1 connection; CPU time of
the system's processes (utime+stime) over the 32-connection run divided by its requests;
peak RSS (VmHWM, summed over the system's processes) at the end. The upstream is an nginx
answering a small static reply on 127.0.0.1.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
CHILDREN = []  # Popen objects started here (each in its own session)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cleanup(*_):
    for p in CHILDREN:
        stop(p)
    CHILDREN.clear()


def on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


def stop(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    if p in CHILDREN:
        CHILDREN.remove(p)


def spawn(argv, logfile, env=None):
    out = open(logfile, "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                         start_new_session=True, env=env)
    CHILDREN.append(p)
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path="/", headers=None, body=None, timeout=1.0):
    """One HTTP/1.1 request with Connection: close; returns (status, headers, body) or None."""
    method = "POST" if body is not None else "GET"
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    req = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(req)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    if not data.startswith(b"HTTP/1."):
        return None
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    hdrs = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding") == "chunked":
        out, buf = b"", rest
        while buf:
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            out, buf = out + buf[:size], buf[size + 2:]
        rest = out
    return status, hdrs, rest


def wait_served(port, proc, deadline_s=120.0):
    """Seconds from now until the port serves a 200 (polling), or raises."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before serving")
        r = http_get(port, timeout=0.5)
        if r is not None and r[0] == 200:
            return time.monotonic() - t0
        time.sleep(0.005)
    raise RuntimeError(f"no 200 on port {port} within {deadline_s} s")


# ---------------------------------------------------------------- /proc

def descendants(pid):
    """pid and all its descendants."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


def vm_hwm_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---------------------------------------------------------------- wasm marker (for Envoy)

def _leb(data, i):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def _enc_leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def rename_export(wasm, old, new):
    """wasm with the export `old` renamed to `new` (as src/marker.rs of the conformance
    suite does), or None when there is no such export."""
    out = bytearray(wasm[:8])
    i, renamed = 8, False
    while i < len(wasm):
        sid = wasm[i]
        size, j = _leb(wasm, i + 1)
        body = wasm[j:j + size]
        if sid == 7:
            count, k = _leb(body, 0)
            sec = bytearray(_enc_leb(count))
            for _ in range(count):
                nlen, k = _leb(body, k)
                name = body[k:k + nlen]
                k += nlen
                kind = body[k]
                idx, k2 = _leb(body, k + 1)
                if name == old.encode():
                    name, renamed = new.encode(), True
                sec += _enc_leb(len(name)) + name + bytes([kind]) + body[k + 1:k2]
                k = k2
            body = bytes(sec)
        out += bytes([sid]) + _enc_leb(len(body)) + body
        i = j + size
    return bytes(out) if renamed else None


def for_envoy(path, workdir):
    with open(path, "rb") as f:
        data = f.read()
    copy = rename_export(data, "proxy_abi_version_0_2_100", "proxy_abi_version_0_2_1")
    if copy is None:
        return path
    out = os.path.join(workdir, "envoy-" + os.path.basename(path))
    with open(out, "wb") as f:
        f.write(copy)
    return out


# ---------------------------------------------------------------- systems

class Upstream:
    """nginx answering `200 ok hello=<the hello header>` on 127.0.0.1 (any method)."""

    def __init__(self, workdir, nginx):
        self.port = free_port()
        d = os.path.join(workdir, "upstream")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(d, 1, f"""
    server {{
        listen 127.0.0.1:{self.port};
        keepalive_requests 100000000;
        location / {{ default_type text/plain; return 200 "ok hello=$http_hello\\n"; }}
    }}"""))
        self.proc = spawn([nginx, "-p", d, "-c", conf, "-g", "daemon off;"],
                          os.path.join(d, "nginx.log"))
        wait_served(self.port, self.proc, 10)


def nginx_conf(d, workers, servers):
    return f"""
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    {servers}
}}
"""


class System:
    name = "?"

    def __init__(self, args, workdir, upstream_port):
        self.args, self.workdir, self.upstream_port = args, workdir, upstream_port
        self.proc = None
        self.port = None
        self.start_cold = None
        self.start_warm = None

    def pids(self):
        return descendants(self.proc.pid) if self.proc else []

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.proc = None


class Direct(System):
    name = "upstream direct"

    def start(self, plugins, run_dir):
        self.port = self.upstream_port
        self.proc = None

    def pids(self):
        return []


class NginxProxy(System):
    name = "nginx proxy"

    def start(self, plugins, run_dir):
        assert not plugins
        self.port = free_port()
        conf = os.path.join(run_dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(run_dir, self.args.workers_now, f"""
    upstream up {{ server 127.0.0.1:{self.upstream_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{self.port};
        keepalive_requests 100000000;
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""))
        t0 = time.monotonic()
        self.proc = spawn([self.args.nginx, "-p", run_dir, "-c", conf, "-g", "daemon off;"],
                          os.path.join(run_dir, "nginx.log"))
        self.start_cold = time.monotonic() - t0 + wait_served(self.port, self.proc)


class Envoy(System):
    name = "Envoy"

    def start(self, plugins, run_dir):
        self.port = free_port()
        admin = free_port()
        filters = []
        for p in plugins:
            filters.append({
                "name": "envoy.filters.http.wasm",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                    "config": {
                        "name": p["name"], "root_id": "",
                        "vm_config": {"runtime": "envoy.wasm.runtime.v8",
                                      "code": {"local": {"filename": p["envoy_wasm"]}}},
                        "configuration": {
                            "@type": "type.googleapis.com/google.protobuf.StringValue",
                            "value": json.dumps(p["config"])},
                    }}})
        filters.append({"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}})
        sock = lambda port: {"socket_address": {"address": "127.0.0.1", "port_value": port}}
        config = {
            "admin": {"address": sock(admin)},
            "static_resources": {
                "listeners": [{"name": "bench", "address": sock(self.port),
                               "filter_chains": [{"filters": [{
                                   "name": "envoy.filters.network.http_connection_manager",
                                   "typed_config": {
                                       "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                                       "stat_prefix": "bench",
                                       "route_config": {"name": "bench", "virtual_hosts": [{
                                           "name": "all", "domains": ["*"],
                                           "routes": [{"name": "default", "match": {"prefix": "/"},
                                                       "route": {"cluster": "upstream",
                                                                 "timeout": "15s"}}]}]},
                                       "http_filters": filters}}]}]}],
                "clusters": [{"name": "upstream", "type": "STATIC", "connect_timeout": "1s",
                              "load_assignment": {"cluster_name": "upstream", "endpoints": [
                                  {"lb_endpoints": [{"endpoint": {
                                      "address": sock(self.upstream_port)}}]}]}}],
            }}
        path = os.path.join(run_dir, "envoy.json")
        with open(path, "w") as f:
            json.dump(config, f, indent=1)
        t0 = time.monotonic()
        self.proc = spawn([self.args.envoy, "-c", path, "--disable-hot-restart",
                           "--concurrency", str(self.args.workers_now), "-l", "warn"],
                          os.path.join(run_dir, "envoy.log"))
        self.start_cold = time.monotonic() - t0 + wait_served(self.port, self.proc)


class Wasmgate(System):
    name = "wasmgate"

    def _write_config(self, plugins, run_dir):
        lines = [f"listen: 127.0.0.1:{self.port}",
                 f"workers: {self.args.workers_now}",
                 "access_log: off",
                 "clusters:",
                 "  - name: upstream",
                 f"    endpoints: [127.0.0.1:{self.upstream_port}]",
                 "routes:",
                 "  - name: default",
                 "    cluster: upstream"]
        if plugins:
            lines.append("plugins:")
            for i, p in enumerate(plugins):
                lines += [f"  - name: {p['name']}",
                          f"    wasm: {p['wasm']}",
                          f"    priority: {1000 - i}",  # same phase: higher runs first
                          f"    config: {json.dumps(p['config'])}"]
        path = os.path.join(run_dir, "wasmgate.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def _launch(self, config, cache, run_dir):
        env = dict(os.environ, WASMGATE_CACHE_DIR=cache, RUST_LOG="warn")
        t0 = time.monotonic()
        self.proc = spawn([self.args.wasmgate, "run", "-c", config],
                          os.path.join(run_dir, "wasmgate.log"), env=env)
        return time.monotonic() - t0 + wait_served(self.port, self.proc)

    def start(self, plugins, run_dir):
        self.port = free_port()
        config = self._write_config(plugins, run_dir)
        cache = os.path.join(run_dir, "cache")
        os.makedirs(cache)
        self.start_cold = self._launch(config, cache, run_dir)  # empty cache
        # A large plugin starts on baseline code while the optimized code is compiled into
        # the cache in the background: let that finish, so the warm start runs optimized code.
        wanted = {p["wasm"] for p in plugins}
        deadline = time.monotonic() + 120
        while len([f for f in os.listdir(cache) if f.endswith(".cwasm")]) < len(wanted):
            if time.monotonic() > deadline:
                raise RuntimeError(f"wasmgate did not cache the optimized code of {sorted(wanted)}")
            time.sleep(0.05)
        stop(self.proc)
        self.start_warm = self._launch(config, cache, run_dir)  # cache filled by the first


# ---------------------------------------------------------------- wrk

UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_duration_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s)$", s)
    return float(m.group(1)) * UNIT[m.group(2)]


def wrk(args, port, conns, duration, script):
    argv = [args.wrk, "-t", str(min(args.wrk_threads, conns)), "-c", str(conns),
            "-d", f"{duration}s", "--latency", "--timeout", "5s"]
    if script:
        argv += ["-s", script]
    argv.append(f"http://127.0.0.1:{port}/bench")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30).stdout
    r = {"raw": out}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}%\s+(\S+)", out, re.M)
        r[f"p{q}"] = parse_duration_ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    r["socket_errors"] = m.group(1) if m else ""
    return r


# ---------------------------------------------------------------- cases

def plugin(repo, name, lang, config, alias=None):
    return {"name": alias or name, "wasm": os.path.join(repo, f"target/plugins/{lang}/{name}.wasm"),
            "config": config}


def cases(repo):
    off = {"mockEnable": False}
    return {
        "baseline": {"title": "no plugin", "plugins": [],
                     "systems": [Direct, NginxProxy, Envoy, Wasmgate]},
        "rust": {"title": "1 plugin: Rust sdk-hello (wasmgate-sdk)",
                 "plugins": [plugin(repo, "sdk-hello", "rust", off)],
                 "systems": [Envoy, Wasmgate], "expect": "hello=world"},
        "go": {"title": "1 plugin: Go hello (wasm-go)",
               "plugins": [plugin(repo, "hello", "go", off)],
               "systems": [Envoy, Wasmgate], "expect": "hello=world"},
        "chain3": {"title": "3 plugins: Rust sdk-hello, hello, minimal",
                   "plugins": [plugin(repo, "sdk-hello", "rust", off),
                               plugin(repo, "hello", "rust", off, "hello-rs"),
                               plugin(repo, "minimal", "rust", {})],
                   "systems": [Envoy, Wasmgate], "expect": "hello=world"},
        "body64k": {"title": "64 KiB request body buffered by abi-probe (x-probe: body)",
                    "plugins": [plugin(repo, "abi-probe", "rust", {})],
                    "systems": [Envoy, Wasmgate], "body": 64 * 1024},
    }


def check(case, port):
    """One request through the system: the plugins did what they do."""
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


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem_kib / 1048576, 1)}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------- report

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0, suffix=""):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}{suffix}"


METRICS = [  # key, header, digits
    ("rps32", "req/s @32", 0), ("p50_32", "p50 @32 (ms)", 2), ("p99_32", "p99 @32 (ms)", 2),
    ("rps1", "req/s @1", 0), ("p50_1", "p50 @1 (ms)", 3), ("p99_1", "p99 @1 (ms)", 3),
    ("cpu_us", "CPU µs/req", 1), ("rss_mib", "peak RSS (MiB)", 1),
    ("start_cold_ms", "start cold (ms)", 0), ("start_warm_ms", "start warm (ms)", 0),
]


def report(results, meta):
    out = [f"Run of {meta['date']}: {meta['rounds']} rounds × {meta['duration']} s per "
           f"measurement (after {meta['warmup']} s warm-up), wrk {meta['wrk_threads']} "
           f"thread(s), A/B/A/B per case.",
           f"Machine: {meta['machine']['nproc']} CPUs ({meta['machine']['cpu']}), "
           f"{meta['machine']['mem_gib']} GiB. Load average before: {meta['load_before']}, "
           f"after: {meta['load_after']}.", ""]
    for workers, by_case in results.items():
        out.append(f"### {workers} worker(s): medians")
        out.append("")
        out.append("| case | system | " + " | ".join(h for _, h, _ in METRICS) + " | errors |")
        out.append("|---|---|" + "---:|" * len(METRICS) + "---:|")
        for case_key, case in by_case.items():
            for sys_name, rounds in case["systems"].items():
                cells = [fmt(med([r[k] for r in rounds]), d) for k, _, d in METRICS]
                errs = sum(r["errors"] for r in rounds)
                out.append(f"| {case['title']} | {sys_name} | " + " | ".join(cells) +
                           f" | {errs} |")
        out.append("")
        out.append(f"### {workers} worker(s): wasmgate / Envoy (median of the per-round ratios)")
        out.append("")
        out.append("| case | " + " | ".join(h for _, h, _ in METRICS) + " |")
        out.append("|---|" + "---:|" * len(METRICS))
        for case_key, case in by_case.items():
            a, b = case["systems"].get("wasmgate"), case["systems"].get("Envoy")
            if not a or not b:
                continue
            cells = []
            for k, _, _ in METRICS:
                ratios = [x[k] / y[k] for x, y in zip(a, b)
                          if x[k] is not None and y[k] not in (None, 0)]
                cells.append(fmt(med(ratios), 2, "×"))
            out.append(f"| {case['title']} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- main

def measure(args, system, case, plugins, run_dir, script):
    system.start(plugins, run_dir)
    try:
        check(case, system.port)
        if args.warmup:
            wrk(args, system.port, 32, args.warmup, script)
        pids = system.pids()
        cpu0 = cpu_seconds(pids)
        w32 = wrk(args, system.port, 32, args.duration, script)
        cpu1 = cpu_seconds(pids)
        w1 = wrk(args, system.port, 1, args.duration, script)
        if system.proc is not None and system.proc.poll() is not None:
            raise RuntimeError(f"{system.name} exited with {system.proc.returncode} under load")
        rss = vm_hwm_kib(system.pids()) / 1024 if pids else None
    finally:
        system.stop()
        shutil.rmtree(os.path.join(run_dir, "cache"), ignore_errors=True)
    return {
        "rps32": w32["rps"], "p50_32": w32["p50"], "p99_32": w32["p99"],
        "rps1": w1["rps"], "p50_1": w1["p50"], "p99_1": w1["p99"],
        "cpu_us": (cpu1 - cpu0) / w32["requests"] * 1e6 if pids and w32["requests"] else None,
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
    ap.add_argument("--cases", default="baseline,rust,go,chain3,body64k")
    ap.add_argument("--out", default=None, help="report file (default target/bench/<date>.md)")
    ap.add_argument("--skip-setup", action="store_true", help="(handled by bench/run)")
    args = ap.parse_args()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    args.wrk = shutil.which("wrk") or sys.exit("wrk not found")
    args.nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    args.wasmgate = os.path.join(args.repo, "target/release/wasmgate")
    all_cases = cases(args.repo)
    selected = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in selected:
        if c not in all_cases:
            sys.exit(f"unknown case {c}; known: {', '.join(all_cases)}")

    workdir = tempfile.mkdtemp(prefix="wasmgate-bench-")
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    meta = {"date": date, "rounds": args.rounds, "duration": args.duration,
            "warmup": args.warmup, "wrk_threads": args.wrk_threads, "machine": machine(),
            "load_before": loadavg(), "argv": sys.argv[1:]}
    results = {}
    try:
        upstream = Upstream(workdir, args.nginx)
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
                entry = by_case.setdefault(c, {"title": case["title"], "systems": {}})
                for rnd in range(args.rounds):
                    for cls in case["systems"]:
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
                        log("    " + ", ".join(f"{k}={fmt(r.get(k), d)}" for k, _, d in METRICS))
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
