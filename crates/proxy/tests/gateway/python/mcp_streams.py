"""The official MCP Python SDK's clients on the server-to-client streams, printing one JSON
report.

usage: mcp_streams.py sse URL NAME ARGS_JSON [NAME ARGS_JSON ...]
  The older HTTP+SSE transport (`sse_client`): initializes, lists the tools, calls each
  (name, JSON arguments) pair; then, after the client left, POSTs to its session's message
  URL until the gateway answers 404 (the session ended with the stream; at most 100 tries).
  {"server", "protocol", "tools": [names], "calls": [{"name", "error", "text"}],
   "after_close": status}
usage: mcp_streams.py get URL NAME ARGS_JSON
  Streamable HTTP: waits until the client's GET stream is open (its response head came),
  calls the tool, and waits (at most 20 s) for a log notification on that stream.
  {"stream_status", "stream_type", "call": text, "logs": [{"level", "logger", "data"}]}"""
import asyncio
import json
import sys

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client


def text_of(result):
    return " ".join(c.text for c in result.content if hasattr(c, "text"))


async def old_transport(url, calls):
    report = {"calls": []}
    sessions = []
    async with sse_client(url, on_session_created=sessions.append) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            init = await session.initialize()
            report["server"] = init.server_info.name
            report["protocol"] = init.protocol_version
            tools = await session.list_tools()
            report["tools"] = sorted(tool.name for tool in tools.tools)
            for name, arguments in calls:
                result = await session.call_tool(name, json.loads(arguments))
                report["calls"].append(
                    {"name": name, "error": bool(result.is_error), "text": text_of(result)}
                )
    base = url.rsplit("/sse", 1)[0]
    message = f"{base}/messages/?sessionId={sessions[0]}"
    ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
    async with httpx2.AsyncClient() as client:
        for _ in range(100):
            status = (await client.post(message, json=ping)).status_code
            if status == 404:
                break
            await anyio.sleep(0.1)
    report["after_close"] = status
    print(json.dumps(report))


async def get_stream(url, name, arguments):
    report = {"logs": []}
    opened = anyio.Event()
    logged = anyio.Event()

    async def on_response(response):
        if response.request.method == "GET":
            report["stream_status"] = response.status_code
            report["stream_type"] = response.headers.get("content-type")
            opened.set()

    async def on_log(params):
        report["logs"].append({"level": params.level, "logger": params.logger, "data": params.data})
        logged.set()

    timeout = httpx2.Timeout(30.0, read=300.0)
    client = httpx2.AsyncClient(timeout=timeout, event_hooks={"response": [on_response]})
    async with client:
        async with streamable_http_client(url, http_client=client) as streams:
            async with ClientSession(streams[0], streams[1], logging_callback=on_log) as session:
                await session.initialize()
                with anyio.fail_after(20):
                    await opened.wait()
                result = await session.call_tool(name, json.loads(arguments))
                report["call"] = text_of(result)
                with anyio.move_on_after(20):
                    await logged.wait()
    print(json.dumps(report))


kind, url, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if kind == "sse":
    asyncio.run(old_transport(url, list(zip(args[0::2], args[1::2]))))
else:
    asyncio.run(get_stream(url, args[0], args[1]))
