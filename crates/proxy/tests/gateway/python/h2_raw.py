"""A raw HTTP/2 client (the h2 library) for what httpx hides: the server's SETTINGS, GOAWAY,
and a rapid-reset flood.

argv: host, port, mode.
- `settings`: prints the server's MAX_CONCURRENT_STREAMS.
- `in-flight`: sends GET /slow, prints `sent` on its own line, then reads until the stream
  ends and a GOAWAY came (or the connection closes); prints the status, the body and
  whether the GOAWAY came.
- `await-goaway SECONDS [CAFILE SERVER_NAME]` (over TLS with a CA file): connects, prints
  `connected`, then waits at most SECONDS for a GOAWAY; prints `goaway` or `none`.
- `flood N`: opens N streams and resets each at once, all in one write; prints whether the
  server ended the connection, and its error code."""
import json
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


def connect(host, port, cafile=None, server_name=None):
    sock = socket.create_connection((host, port), timeout=20)
    if cafile:
        context = ssl.create_default_context(cafile=cafile)
        context.set_alpn_protocols(["h2"])
        sock = context.wrap_socket(sock, server_hostname=server_name)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def events(sock, conn):
    """The h2 events of the server's frames, answering what h2 must (SETTINGS ACKs)."""
    for frame in frames(sock):
        try:
            happened = conn.receive_data(frame)
        except h2.exceptions.ProtocolError:
            return
        sock.sendall(conn.data_to_send())
        yield from happened


def request(conn, stream_id, path, authority):
    conn.send_headers(stream_id, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                  (":authority", authority)], end_stream=True)


def settings(host, port):
    sock, conn = connect(host, port)
    for event in events(sock, conn):
        if isinstance(event, h2.events.RemoteSettingsChanged):
            changed = event.changed_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
            print(json.dumps({"max_concurrent_streams": changed.new_value if changed else None}))
            return


def frames(sock):
    """The server's frames one by one, whole (9-byte header and payload)."""
    buf = b""
    while True:
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + length:
                break
            frame, buf = buf[:9 + length], buf[9 + length:]
            yield frame
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return
        if not data:
            return
        buf += data


GOAWAY = 7


def in_flight(host, port):
    sock, conn = connect(host, port)
    request(conn, 1, "/slow", f"{host}:{port}")
    sock.sendall(conn.data_to_send())
    print("sent", flush=True)
    status, body, goaway, ended = None, b"", False, False
    for frame in frames(sock):
        if frame[3] == GOAWAY:
            # The h2 library closes the whole connection on GOAWAY, streams in flight
            # included; a graceful GOAWAY lets them finish: note it, keep it from h2.
            goaway = True
            if ended:
                break
            continue
        for event in conn.receive_data(frame):
            if isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers).get(b":status", b"").decode()
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                ended = True
        sock.sendall(conn.data_to_send())
        if ended and goaway:
            break
    print(json.dumps({"status": status, "body": body.decode(errors="replace"),
                      "goaway": goaway}), flush=True)


def flood(host, port, count):
    sock, conn = connect(host, port)
    for i in range(count):
        stream_id = 1 + 2 * i
        request(conn, stream_id, "/flood", f"{host}:{port}")
        conn.reset_stream(stream_id)
    try:
        sock.sendall(conn.data_to_send())
    except (BrokenPipeError, ConnectionResetError):
        print(json.dumps({"ended": True, "error_code": None}))
        return
    sock.settimeout(10)
    while True:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            print(json.dumps({"ended": False, "error_code": None}))
            return
        except ConnectionResetError:
            data = b""
        if not data:
            print(json.dumps({"ended": True, "error_code": None}))
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ConnectionTerminated):
                print(json.dumps({"ended": True, "error_code": int(event.error_code)}))
                return


def await_goaway(host, port, seconds, cafile, server_name):
    sock, conn = connect(host, port, cafile, server_name)
    # A first request makes sure the server has taken the connection.
    request(conn, 1, "/first", f"{server_name or host}:{port}")
    sock.sendall(conn.data_to_send())
    sock.settimeout(seconds)
    print("connected", flush=True)
    try:
        for frame in frames(sock):
            if frame[3] == GOAWAY:
                print("goaway", flush=True)
                return
            conn.receive_data(frame)
            sock.sendall(conn.data_to_send())
    except OSError:
        pass
    print("none", flush=True)


host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if mode == "settings":
    settings(host, port)
elif mode == "in-flight":
    in_flight(host, port)
elif mode == "await-goaway":
    extra = sys.argv[5:7] if len(sys.argv) > 6 else [None, None]
    await_goaway(host, port, float(sys.argv[4]), *extra)
elif mode == "flood":
    flood(host, port, int(sys.argv[4]))
