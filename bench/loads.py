#!/usr/bin/env python3
"""The loads: wrk (HTTP/1.1, plain or https), h2load (h2 over TLS, h2c, gRPC unary calls)
and openssl s_time (full TLS handshakes), each giving one measurement as a dict; the
benchmark's certificate."""

import os
import re
import resource
import subprocess
import time

from procs import log
from systems import GRPC_PATH


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
    # `load_prefix`: e.g. `taskset -c 1`, to keep the load generator on its own cores.
    argv = list(getattr(args, "load_prefix", []))
    argv += [args.wrk, "-t", str(min(args.wrk_threads, conns)), "-c", str(conns),
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


PROTOS = {  # key: (case-name prefix, title)
    "h1tls": ("tls", "HTTP/1.1 over TLS (wrk, https)"),
    "h2tls": ("h2", "HTTP/2 over TLS (h2load, ALPN h2)"),
    "h2c": ("h2c", "HTTP/2 cleartext, prior knowledge (h2load, h2c)"),
    "grpc": ("grpc", "gRPC unary calls over h2c to an HTTP/2 upstream (h2load)"),
}
