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
import re
import resource
import shutil
import signal
import socket
import ssl
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
    for p in list(CHILDREN):  # stop() removes from CHILDREN
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


def http_get(port, path="/", headers=None, body=None, timeout=1.0, tls=None, facts=None):
    """One HTTP/1.1 request with Connection: close; returns (status, headers, body) or None.
    With `tls` (an SSLContext) over TLS; the handshake's version and cipher go into `facts`."""
    method = "POST" if body is not None else "GET"
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    req = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            s = tls.wrap_socket(raw, server_hostname="localhost") if tls else raw
            if facts is not None and tls:
                facts.update(version=s.version(), cipher=s.cipher()[0],
                             alpn=s.selected_alpn_protocol())
            try:
                s.sendall(req)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            finally:
                s.close()
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

GRPC_PATH = "/bench.Echo/Unary"
GRPC_REQUEST = b"\0\0\0\0\x02hi"       # one gRPC message, `hi`
GRPC_ANSWER = b"\0\0\0\0\x05hello"     # one gRPC message, `hello`


class Upstream:
    """nginx answering `200 ok hello=<the hello header>` on 127.0.0.1 (any method), and on
    `grpc_port` (h2c) `bench/grpc-upstream` answering every gRPC call with `hello` and
    `grpc-status: 0` (nginx 1.22 sends `add_trailer` trailers of static files only now and
    then)."""

    def __init__(self, workdir, nginx, grpc_upstream):
        self.port, self.grpc_port = free_port(), free_port()
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
        self.grpc = None
        if os.path.exists(grpc_upstream):
            # One core, as nginx's one worker.
            self.grpc = spawn([grpc_upstream, str(self.grpc_port)],
                              os.path.join(d, "grpc-upstream.log"),
                              env=dict(os.environ, GOMAXPROCS="1"))
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
        self.port = None      # plain HTTP/1.1
        self.h2c_port = None  # plain h2c with prior knowledge (the plain port where it detects h2)
        self.tls_port = None  # TLS, ALPN h2 and http/1.1
        self.start_cold = None
        self.start_warm = None

    def pids(self):
        return descendants(self.proc.pid) if self.proc else []

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.proc = None


class Direct(System):
    key = "direct"
    name = "upstream direct"

    def start(self, plugins, run_dir):
        self.port = self.upstream_port
        self.h2c_port = self.args.grpc_upstream_port
        self.proc = None

    def pids(self):
        return []


class NginxProxy(System):
    key = "nginx"
    name = "nginx proxy"

    def start(self, plugins, run_dir):
        assert not plugins
        self.port, self.h2c_port, self.tls_port = free_port(), free_port(), free_port()
        cert, key = self.args.certs
        conf = os.path.join(run_dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(run_dir, self.args.workers_now, f"""
    upstream up {{ server 127.0.0.1:{self.upstream_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{self.port};
        listen 127.0.0.1:{self.h2c_port} http2;  # nginx 1.22: h2 only on this port
        listen 127.0.0.1:{self.tls_port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;  # 1.22's default lacks TLSv1.3
        keepalive_requests 100000000;
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location /bench.Echo/ {{ grpc_pass grpc://grpc; }}
    }}
    upstream grpc {{ server 127.0.0.1:{self.args.grpc_upstream_port}; keepalive 64; }}"""))
        t0 = time.monotonic()
        self.proc = spawn([self.args.nginx, "-p", run_dir, "-c", conf, "-g", "daemon off;"],
                          os.path.join(run_dir, "nginx.log"))
        self.start_cold = time.monotonic() - t0 + wait_served(self.port, self.proc)


HTTP2_OPTIONS = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    "explicit_http_config": {"http2_protocol_options": {}}}}


class Envoy(System):
    key = "envoy"
    name = "Envoy"

    def start(self, plugins, run_dir):
        self.port = self.h2c_port = free_port()  # codec AUTO: HTTP/1.1 and h2c
        self.tls_port = free_port()
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
        cluster = lambda name, port: {
            "name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": sock(port)}}]}]}}
        hcm = lambda prefix: {
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": prefix,
                "codec_type": "AUTO",  # HTTP/1.1, or h2 by ALPN or by its preface (h2c)
                "route_config": {"name": "bench", "virtual_hosts": [{
                    "name": "all", "domains": ["*"],
                    "routes": [{"name": "grpc", "match": {"prefix": "/bench.Echo/"},
                                "route": {"cluster": "grpc", "timeout": "15s"}},
                               {"name": "default", "match": {"prefix": "/"},
                                "route": {"cluster": "upstream", "timeout": "15s"}}]}]},
                "http_filters": filters}}
        cert, key = self.args.certs
        tls = {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {
                "tls_certificates": [{"certificate_chain": {"filename": cert},
                                      "private_key": {"filename": key}}],
                "alpn_protocols": ["h2", "http/1.1"]}}}
        config = {
            "admin": {"address": sock(admin)},
            "static_resources": {
                "listeners": [
                    {"name": "bench", "address": sock(self.port),
                     "filter_chains": [{"filters": [hcm("bench")]}]},
                    {"name": "bench_tls", "address": sock(self.tls_port),
                     "filter_chains": [{"filters": [hcm("bench_tls")],
                                        "transport_socket": tls}]}],
                "clusters": [cluster("upstream", self.upstream_port),
                             dict(cluster("grpc", self.args.grpc_upstream_port),
                                  typed_extension_protocol_options=HTTP2_OPTIONS)],
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
    key = "wasmgate"
    name = "wasmgate"

    def _write_config(self, plugins, run_dir):
        cert, key = self.args.certs
        lines = ["listen:",
                 f"  - address: 127.0.0.1:{self.port}  # HTTP/1.1 and h2c",
                 f"  - address: 127.0.0.1:{self.tls_port}",
                 "    tls:",
                 "      certificates:",
                 f"        - {{cert: {cert}, key: {key}}}",
                 f"workers: {self.args.workers_now}",
                 "access_log: off",
                 "clusters:",
                 "  - name: upstream",
                 f"    endpoints: [127.0.0.1:{self.upstream_port}]",
                 "  - name: grpc",
                 f"    endpoints: [127.0.0.1:{self.args.grpc_upstream_port}]",
                 "    protocol: http2",
                 "routes:",
                 "  - name: grpc",
                 "    path_prefix: /bench.Echo/",
                 "    cluster: grpc",
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
        self.port = self.h2c_port = free_port()
        self.tls_port = free_port()
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


def children_cpu():
    """CPU seconds of the waited-for children so far (the load generators: the systems are
    waited for only when stopped)."""
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def parse_duration_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s)$", s)
    return float(m.group(1)) * UNIT[m.group(2)]


def wrk(args, port, conns, duration, script, scheme="http", headers=()):
    argv = [args.wrk, "-t", str(min(args.wrk_threads, conns)), "-c", str(conns),
            "-d", f"{duration}s", "--latency", "--timeout", "5s"]
    if script:
        argv += ["-s", script]
    for h in headers:
        argv += ["-H", h]
    argv.append(f"{scheme}://127.0.0.1:{port}/bench")
    c0 = children_cpu()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30).stdout
    r = {"raw": out, "client_cpu": children_cpu() - c0}
    m = re.search(r"^\s+Latency\s+(\S+)", out, re.M)
    r["mean"] = parse_duration_ms(m.group(1)) if m else None
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


def h2load(args, port, duration, tls, grpc=False):
    """h2load over HTTP/2 (ALPN h2 over TLS, or h2c with prior knowledge) for `duration` s:
    `args.h2_clients` connections with `args.h2_streams` concurrent streams each. `grpc`:
    unary gRPC calls (POST `GRPC_PATH`, one message, `te: trailers`)."""
    scheme = "https" if tls else "http"
    path = GRPC_PATH if grpc else "/bench"
    argv = [args.h2load, "-t", "1", "-c", str(args.h2_clients), "-m", str(args.h2_streams),
            "-D", str(duration), f"{scheme}://127.0.0.1:{port}{path}"]
    if grpc:
        argv += ["-d", args.grpc_request, "-H", "content-type: application/grpc",
                 "-H", "te: trailers"]
    c0 = children_cpu()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    out = proc.stdout
    r = {"raw": out + proc.stderr, "p50": None, "p99": None, "client_cpu": children_cpu() - c0}
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", out)
    r["requests"] = int(m.group(1)) if m else 0
    failed = sum(int(x) for x in m.groups()[1:]) if m else 0
    m = re.search(r"status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    r["non2xx"] = sum(int(x) for x in m.groups()) if m else 0
    r["socket_errors"] = f"{failed} failed/errored/timed out" if failed else ""
    m = re.search(r"^time for request:\s+\S+\s+\S+\s+(\S+)", out, re.M)
    r["mean"] = parse_duration_ms(m.group(1)) if m else None
    if not m or not r["requests"]:
        log(f"    h2load printed: {r['raw'][-500:]!r}")
    return r


def s_time(args, port, duration):
    """Full TLS handshakes: `args.handshake_clients` `openssl s_time -new` in parallel, each
    connecting, handshaking (no session resumed) and closing, one connection after another,
    for `duration` s. No HTTP request is sent."""
    argv = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new",
            "-time", str(duration)]
    c0, t0 = children_cpu(), time.monotonic()
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(args.handshake_clients)]
    outs = [p.communicate(timeout=duration + 30)[0] for p in procs]
    wall = time.monotonic() - t0
    n, errors = 0, 0
    for out in outs:
        m = re.search(r"(\d+) connections in [\d.]+ real seconds", out)
        if m:
            n += int(m.group(1))
        else:
            errors += 1
            log(f"    s_time printed: {out[-300:]!r}")
    return {"raw": "".join(outs), "rps": n / wall, "requests": n, "wall": wall,
            "mean": None, "p50": None,
            "p99": None, "non2xx": 0,
            "socket_errors": f"{errors} s_time client(s) failed" if errors else "",
            "client_cpu": children_cpu() - c0}


def load(args, proto, system, duration, script):
    """One measurement of `proto` against `system` at 32 requests in flight."""
    if proto == "h1":
        return wrk(args, system.port, 32, duration, script)
    if proto == "h1tls":
        return wrk(args, system.tls_port, 32, duration, script, scheme="https")
    if proto == "handshake":
        return s_time(args, system.tls_port, duration)
    if proto == "resumed":
        return wrk(args, system.tls_port, 32, duration, script, scheme="https",
                   headers=["Connection: close"])
    if proto == "h2tls":
        return h2load(args, system.tls_port, duration, tls=True)
    if proto == "h2c":
        return h2load(args, system.h2c_port, duration, tls=False)
    if proto == "grpc":
        return h2load(args, system.h2c_port, duration, tls=False, grpc=True)
    raise ValueError(proto)


def make_certs(directory):
    """A self-signed EC P-256 certificate for localhost and 127.0.0.1, and its key."""
    os.makedirs(directory, exist_ok=True)
    cert, key = os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC",
                    "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-x509", "-new", "-key", key, "-days", "30",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-out", cert], check=True, capture_output=True)
    return cert, key


# ---------------------------------------------------------------- cases

def plugin(plugins_dir, name, lang, config, alias=None):
    return {"name": alias or name, "wasm": os.path.join(plugins_dir, lang, f"{name}.wasm"),
            "config": config}


PROTOS = {  # key: (case-name prefix, title)
    "h1tls": ("tls", "HTTP/1.1 over TLS (wrk, https)"),
    "h2tls": ("h2", "HTTP/2 over TLS (h2load, ALPN h2)"),
    "h2c": ("h2c", "HTTP/2 cleartext, prior knowledge (h2load, h2c)"),
    "grpc": ("grpc", "gRPC unary calls over h2c to an HTTP/2 upstream (h2load)"),
}


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


OTHER_METRICS = [  # the TLS and HTTP/2 cases: one load at 32 requests in flight
    ("rps32", "req/s", 0), ("mean_32", "mean latency (ms)", 2), ("p99_32", "p99 (ms)", 2),
    ("cpu_us", "CPU µs/req", 1), ("rss_mib", "peak RSS (MiB)", 1),
    ("client_cpu_pct", "client CPU %", 0),
]
HANDSHAKE_METRICS = [
    ("rps32", "handshakes/s", 0), ("mean_32", "mean latency (ms)", 2),
    ("p99_32", "p99 (ms)", 2), ("cpu_us", "CPU µs/handshake", 1),
    ("client_cpu_pct", "client CPU %", 0),
]
FULL_HANDSHAKE_METRICS = [
    ("rps32", "handshakes/s", 0), ("cpu_us", "CPU µs/handshake", 1),
    ("client_cpu_pct", "client CPU %", 0),
]
GROUPS = [  # proto, heading, metrics
    ("h1", "HTTP/1.1 plaintext (wrk)", METRICS),
    ("h1tls", PROTOS["h1tls"][1], OTHER_METRICS),
    ("h2tls", PROTOS["h2tls"][1], OTHER_METRICS),
    ("h2c", PROTOS["h2c"][1], OTHER_METRICS),
    ("grpc", PROTOS["grpc"][1], OTHER_METRICS),
    ("handshake", "full TLS handshakes (openssl s_time -new)", FULL_HANDSHAKE_METRICS),
    ("resumed", "a new TLS connection per request (wrk, https, Connection: close; wrk "
                "resumes the session by ticket)", HANDSHAKE_METRICS),
]


def ratios(a, b, k):
    """Median over rounds of a[k] / b[k] (the rounds taken back to back)."""
    return med([x[k] / y[k] for x, y in zip(a, b)
                if x.get(k) is not None and y.get(k) not in (None, 0)])


def report(results, meta):
    out = [f"Run of {meta['date']}: {meta['rounds']} rounds × {meta['duration']} s per "
           f"measurement (after {meta['warmup']} s warm-up), wrk {meta['wrk_threads']} "
           f"thread(s), h2load 1 thread × {meta['h2_clients']} connections × "
           f"{meta['h2_streams']} streams, {meta.get('handshake_clients')} openssl s_time "
           "-new in parallel, A/B/A/B per case. Client CPU %: the load generator's CPU time "
           "over the measurement (100% = one CPU).",
           f"Machine: {meta['machine']['nproc']} CPUs ({meta['machine']['cpu']}), "
           f"{meta['machine']['mem_gib']} GiB. Load average before: {meta['load_before']}, "
           f"after: {meta['load_after']}.", ""]
    for workers, by_case in results.items():
        targets = []
        for proto, heading, metrics in GROUPS:
            group = {k: c for k, c in by_case.items() if c.get("proto", "h1") == proto}
            if not group:
                continue
            out.append(f"### {workers} worker(s), {heading}: medians")
            out.append("")
            out.append("| case | system | " + " | ".join(h for _, h, _ in metrics) + " | errors |")
            out.append("|---|---|" + "---:|" * len(metrics) + "---:|")
            for case_key, case in group.items():
                for sys_name, rounds in case["systems"].items():
                    cells = [fmt(med([r.get(k) for r in rounds]), d) for k, _, d in metrics]
                    errs = sum(r["errors"] for r in rounds)
                    sock = "; ".join(e for r in rounds for e in r.get("socket_errors") or [] if e)
                    out.append(f"| {case['title']} | {sys_name} | " + " | ".join(cells) +
                               f" | {errs}{' (' + sock + ')' if sock else ''} |")
            out.append("")
            out.append(f"### {workers} worker(s), {heading}: wasmgate / Envoy "
                       "(median of the per-round ratios)")
            out.append("")
            out.append("| case | " + " | ".join(h for _, h, _ in metrics) + " |")
            out.append("|---|" + "---:|" * len(metrics))
            for case_key, case in group.items():
                a, b = case["systems"].get("wasmgate"), case["systems"].get("Envoy")
                if not a or not b:
                    continue
                cells = [fmt(ratios(a, b, k), 2, "×") for k, _, _ in metrics]
                out.append(f"| {case['title']} | " + " | ".join(cells) + " |")
                if proto != "h1":
                    targets.append((case["title"], ratios(a, b, "rps32"), ratios(a, b, "cpu_us")))
            out.append("")
            facts = {}
            for case in group.values():
                for sys_name, rounds in case["systems"].items():
                    for r in rounds:
                        t = r.get("tls") or {}
                        if t.get("version"):
                            facts.setdefault(sys_name, set()).add(f"{t['version']} {t['cipher']}")
            if facts:
                out.append("Negotiated (Python's ssl, OpenSSL): " + "; ".join(
                    f"{n}: {', '.join(sorted(v))}" for n, v in facts.items()) + ".")
                out.append("")
        if targets:
            out.append(f"### {workers} worker(s): targets (wasmgate / Envoy, per-round ratios)")
            out.append("")
            out.append("| case | req/s ≥ Envoy's | | CPU/req ≤ Envoy's | |")
            out.append("|---|---:|---|---:|---|")
            for title, rps, cpu in targets:
                verdict = lambda v, good: "–" if v is None else ("met" if good(v) else "**missed**")
                out.append(f"| {title} | {fmt(rps, 2, '×')} | {verdict(rps, lambda v: v >= 1)} "
                           f"| {fmt(cpu, 2, '×')} | {verdict(cpu, lambda v: v <= 1)} |")
            out.append("")
    return "\n".join(out)


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
