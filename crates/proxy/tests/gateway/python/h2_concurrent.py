"""Many requests at once on one HTTP/2 connection (h2c, prior knowledge) with httpx.

argv: base URL, request count. Prints one JSON object: each answer's status, HTTP
version, the echo's method, path, body and `hello` header, and the connections opened."""
import asyncio
import json
import sys

import httpx


async def main(base, count):
    opened = []

    async def log_connection(event_name, info):
        if event_name == "connection.connect_tcp.complete":
            opened.append(1)

    async with httpx.AsyncClient(http1=False, http2=True, timeout=20,
                                 trust_env=False) as client:
        async def one(i):
            if i % 2:
                r = await client.post(f"{base}/post/{i}", content=f"body-{i}".encode(),
                                      extensions={"trace": log_connection})
            else:
                r = await client.get(f"{base}/get/{i}", extensions={"trace": log_connection})
            echoed = r.json()
            return {"status": r.status_code, "version": r.http_version,
                    "method": echoed["method"], "path": echoed["path"],
                    "body": echoed["body"], "hello": echoed["headers"].get("hello")}

        answers = await asyncio.gather(*(one(i) for i in range(count)))
    print(json.dumps({"answers": answers, "connections": len(opened)}))


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
