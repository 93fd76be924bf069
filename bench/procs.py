#!/usr/bin/env python3
"""The benchmarks' shared helpers: the processes they start (each in its own session, all
stopped on exit), free ports, a raw HTTP/1.1 GET, readiness, CPU time and peak RSS from
/proc, the wasm marker copy Envoy needs, the machine's facts and medians."""

import os
import signal
import socket
import statistics
import subprocess
import sys
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
    """Peak resident memory, KiB, summed over `pids`."""
    return status_kib(pids, "VmHWM")


def vm_rss_kib(pids):
    """Resident memory now, KiB, summed over `pids`."""
    return status_kib(pids, "VmRSS")


def status_kib(pids, field):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
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


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
