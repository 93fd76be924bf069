"""A WebSocket echo upstream on the `websockets` library.

argv: (none). Listens on 127.0.0.1, a free port, and prints the port on its own line.
- Every message comes back as it came (text as text, binary as binary), except the text
  message `headers`, answered with a JSON object of the handshake request: its method-less
  request line's path and its headers as [name, value] pairs, in order, as the upstream
  got them.
- The text message `close-me` is answered with a close, code 4000 reason `bye`.
- Its 101 carries `x-upstream-ws: yes`.
- A handshake to a path starting `/refuse` is answered `418` with the body `no tunnel here`
  and the header `x-refused: yes`.
- The compression extension is off (so the frames the client sends are the frames it
  gets back, byte for byte)."""
import asyncio
import json
from http import HTTPStatus

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


def process_request(connection, request):
    if request.path.startswith("/refuse"):
        response = connection.respond(HTTPStatus.IM_A_TEAPOT, "no tunnel here")
        response.headers["x-refused"] = "yes"
        return response
    return None


def process_response(connection, request, response):
    if response.status_code == 101:
        response.headers["x-upstream-ws"] = "yes"
    return response


async def handler(websocket):
    request = websocket.request
    try:
        await echo(websocket, request)
    except ConnectionClosed:
        pass


async def echo(websocket, request):
    async for message in websocket:
        if message == "close-me":
            await websocket.close(4000, "bye")
        elif message == "headers":
            await websocket.send(json.dumps({
                "path": request.path,
                "headers": [[name, value] for name, value in request.headers.raw_items()],
            }))
        else:
            await websocket.send(message)


async def main():
    async with serve(handler, "127.0.0.1", 0, compression=None,
                     process_request=process_request, process_response=process_response,
                     ping_interval=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.get_running_loop().create_future()


asyncio.run(main())
