"""The official MCP Python SDK as a client over streamable HTTP: initializes, lists the
tools, calls each (name, JSON arguments) pair given, and prints one JSON report:
{"server", "protocol", "tools": {name: input schema}, "calls": [{"name", "error", "text"}]}; a
call answered with a JSON-RPC error has "error": true and "rpc_error": its message.

usage: mcp_client.py URL NAME ARGS_JSON [NAME ARGS_JSON ...]"""
import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url, calls):
    report = {"calls": []}
    async with streamable_http_client(url) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            init = await session.initialize()
            report["server"] = init.server_info.name
            report["protocol"] = init.protocol_version
            tools = await session.list_tools()
            report["tools"] = {tool.name: tool.input_schema for tool in tools.tools}
            for name, arguments in calls:
                try:
                    result = await session.call_tool(name, json.loads(arguments))
                except Exception as e:  # a JSON-RPC error answer
                    report["calls"].append({"name": name, "error": True, "rpc_error": str(e)})
                    continue
                text = " ".join(c.text for c in result.content if hasattr(c, "text"))
                report["calls"].append({"name": name, "error": bool(result.is_error), "text": text})
    print(json.dumps(report))


args = sys.argv[2:]
asyncio.run(main(sys.argv[1], list(zip(args[0::2], args[1::2]))))
