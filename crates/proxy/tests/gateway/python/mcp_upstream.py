"""An MCP server on the official Python SDK (streamable HTTP at /mcp, answers as Server-Sent
Events), behind the gateway's MCP server: tools `shout(text)` (upper-cases it) and
`count_words(text)`. Prints its port, then serves."""
import socket

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("upstream-tools")


@server.tool()
def shout(text: str) -> str:
    """Upper-cases the text."""
    return text.upper()


@server.tool()
def count_words(text: str) -> int:
    """Counts the words of the text."""
    return len(text.split())


sock = socket.socket()
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
app = server.streamable_http_app(host="127.0.0.1")
uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
