#!/usr/bin/env python3
"""The Markdown report of a run: medians per case and system, wasmgate / Envoy ratios, the
targets."""

from loads import PROTOS
from procs import med


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
