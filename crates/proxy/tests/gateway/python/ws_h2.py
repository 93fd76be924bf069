"""WebSocket over HTTP/2 (RFC 8441 extended CONNECT) with a raw h2 client (h2c, prior
knowledge): the `websockets` library has no HTTP/2 client.

argv: host, port, path, then header pairs `name=value` sent with the CONNECT.
Waits for the server's SETTINGS; when they do not enable the extended CONNECT, prints
`{"enable_connect_protocol": false}` and stops. Otherwise sends `:method CONNECT`,
`:protocol websocket` and the headers; when the answer is not 200, prints its status,
headers and body; when it is, a conversation in WebSocket frames on the stream: the text
`headers` (the upstream's report of its handshake), the text `hello h2`, 3 binary bytes, a
close (1000). Prints one JSON object: `status`, `headers` ([name, value] pairs), `messages`
(each `{"text": ...}` or `{"binary": hex}`), `close_code`, and `body` for a refusal."""
import json
import os
import socket
import struct
import sys

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


def frame(opcode, payload):
    """A masked client frame, FIN set."""
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def parse_frames(buf):
    """Whole unmasked server frames at the start of buf: [(opcode, payload)], rest."""
    out = []
    while len(buf) >= 2:
        opcode, n, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, at = struct.unpack(">H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, at = struct.unpack(">Q", buf[2:10])[0], 10
        if len(buf) < at + n:
            break
        out.append((opcode, buf[at:at + n]))
        buf = buf[at + n:]
    return out, buf


class Client:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=20)
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config)
        self.conn.initiate_connection()
        self.flush()
        self.pending = []

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def events(self):
        if self.pending:
            yield from self.pending
            self.pending = []
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            happened = self.conn.receive_data(data)
            self.flush()
            yield from happened


def main(host, port, path, pairs):
    client = Client(host, port)
    enabled = None
    for event in client.events():
        if isinstance(event, h2.events.RemoteSettingsChanged):
            setting = event.changed_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
            enabled = bool(setting and setting.new_value)
            break
    if not enabled:
        print(json.dumps({"enable_connect_protocol": False}))
        return
    headers = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
               (":path", path), (":authority", f"{host}:{port}")] + pairs
    client.conn.send_headers(1, headers)
    client.flush()
    status, answer, body, buf, messages, close_code = None, [], b"", b"", [], None
    script = [(1, b"headers"), (1, b"hello h2"), (2, bytes([0, 1, 255])),
              (8, struct.pack(">H", 1000))]
    sent = 0
    for event in client.events():
        if isinstance(event, h2.events.ResponseReceived):
            answer = [[k, v] for k, v in event.headers]
            status = dict(event.headers).get(":status")
            if status == "200":
                client.conn.send_data(1, frame(*script[0]))
                sent = 1
                client.flush()
        elif isinstance(event, h2.events.DataReceived):
            if not event.stream_ended:  # a stream that ended takes no WINDOW_UPDATE
                client.conn.acknowledge_received_data(event.flow_controlled_length, 1)
                client.flush()
            if status != "200":
                body += event.data
                continue
            frames, buf = parse_frames(buf + event.data)
            for opcode, payload in frames:
                if opcode == 1:
                    messages.append({"text": payload.decode()})
                elif opcode == 2:
                    messages.append({"binary": payload.hex()})
                elif opcode == 8:
                    close_code = struct.unpack(">H", payload[:2])[0] if payload else None
                    try:  # the server may have closed the stream with its close frame
                        client.conn.end_stream(1)
                        client.flush()
                    except h2.exceptions.StreamClosedError:
                        pass
                if opcode in (1, 2) and sent < len(script):
                    client.conn.send_data(1, frame(*script[sent]))
                    sent += 1
                    client.flush()
        elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset,
                                h2.events.ConnectionTerminated)):
            break
    print(json.dumps({"status": status, "headers": answer, "messages": messages,
                      "close_code": close_code, "body": body.decode(errors="replace")}))


host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
main(host, port, path, [tuple(p.split("=", 1)) for p in sys.argv[4:]])
