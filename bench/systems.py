#!/usr/bin/env python3
"""The systems measured: the upstreams (nginx, and bench/grpc-upstream for gRPC), the
upstream direct, nginx as a proxy, Envoy and wasmgate, each started with the case's plugins
and stopped again."""

import json
import os
import time

from procs import descendants, free_port, spawn, stop, wait_served


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


def nginx_conf(d, workers, servers, connections=4096):
    return f"""
worker_processes {workers};
worker_rlimit_nofile {2 * connections + 64};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {connections}; }}
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
        conf = self.write_config(run_dir)
        t0 = time.monotonic()
        self.proc = spawn([self.args.nginx, "-p", run_dir, "-c", conf, "-g", "daemon off;"],
                          os.path.join(run_dir, "nginx.log"))
        self.start_cold = time.monotonic() - t0 + wait_served(self.port, self.proc)

    def write_config(self, run_dir):
        """Picks the ports and writes nginx.conf into run_dir; returns its path."""
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
    upstream grpc {{ server 127.0.0.1:{self.args.grpc_upstream_port}; keepalive 64; }}""",
                    getattr(self.args, "worker_connections", 4096)))
        return conf


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

    def write_config(self, plugins, run_dir):
        """Picks the ports and writes wasmgate.yaml into run_dir; returns its path."""
        self.port = self.h2c_port = free_port()
        self.tls_port = free_port()
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
        config = self.write_config(plugins, run_dir)
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
