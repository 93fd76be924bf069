"""A WebSocket client on the `websockets` library, through the gateway.

argv: url, scenario, then header pairs `name=value` sent with the handshake.
Scenarios:
- `echo`: sends the text `headers` (the upstream's report of its handshake), the text
  `hello`, the binary 00 01 ff, a 1 MiB binary message, then closes (1000).
- `server-close`: sends the text `close-me`; the upstream closes (4000 `bye`).
- `hold`: sends `hello`, gets its echo, prints the line `open`, then waits for the
  connection to end (the gateway shutting down, say).
Prints one JSON object: `status` and `headers` ([name, value] pairs) of the handshake
answer, `messages` (each `{"text": ...}` or `{"binary": hex}`; the 1 MiB one as
`{"binary_len": n, "same": bool}`), `close_code` and `close_reason` the client got; a
refused handshake prints `status`, `headers` and `body` instead."""
import asyncio
import json
import os
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


def report(message, big):
    if isinstance(message, str):
        return {"text": message}
    if len(message) == len(big):
        return {"binary_len": len(message), "same": message == big}
    return {"binary": message.hex()}


async def main(url, scenario, headers):
    big = os.urandom(1 << 20)
    try:
        ws = await connect(url, additional_headers=headers, compression=None,
                           max_size=None, ping_interval=None, open_timeout=20)
    except InvalidStatus as refused:
        response = refused.response
        print(json.dumps({"status": response.status_code,
                          "headers": [[k, v] for k, v in response.headers.raw_items()],
                          "body": response.body.decode(errors="replace")}))
        return
    answer = ws.response
    out = {"status": answer.status_code,
           "headers": [[k, v] for k, v in answer.headers.raw_items()],
           "messages": []}
    if scenario == "echo":
        for message in ["headers", "hello", bytes([0, 1, 255]), big]:
            await ws.send(message)
            out["messages"].append(report(await ws.recv(), big))
        await ws.close(1000)
    elif scenario == "hold":
        await ws.send("hello")
        out["messages"].append(report(await ws.recv(), big))
        print("open", flush=True)
        try:
            await ws.recv()
        except ConnectionClosed:
            pass
    elif scenario == "server-close":
        await ws.send("close-me")
        try:
            await ws.recv()
        except ConnectionClosed:
            pass
    await ws.wait_closed()
    out["close_code"] = ws.close_code
    out["close_reason"] = ws.close_reason
    print(json.dumps(out))


url, scenario = sys.argv[1], sys.argv[2]
pairs = [tuple(p.split("=", 1)) for p in sys.argv[3:]]
asyncio.run(main(url, scenario, pairs))
