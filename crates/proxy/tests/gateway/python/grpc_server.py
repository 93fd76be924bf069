"""A gRPC server (grpcio, raw bytes: no generated code) for the gRPC proxying tests.

Prints its port on the first line of stdout, then serves until killed. Service `test.Echo`:
- `Unary`: answers `echo:<request>`; initial metadata `x-saw-probe-te` (what the request
  carried, `none` when absent); trailing metadata `x-server-trailer: yes`.
- `Fail`: fails with NOT_FOUND, details `no such thing`.
- `Slow`: answers `late` after 2 s.
- `Chat`: answers each message `m` of the stream with `re:m`."""
import sys
import time
from concurrent import futures

import grpc


def unary(request, context):
    metadata = dict(context.invocation_metadata())
    context.send_initial_metadata((
        ("x-saw-probe-te", metadata.get("x-probe-te", "none")),
    ))
    context.set_trailing_metadata((("x-server-trailer", "yes"),))
    return b"echo:" + request


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def slow(request, context):
    time.sleep(2)
    return b"late"


def chat(messages, context):
    for message in messages:
        yield b"re:" + message


def main():
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Chat": grpc.stream_stream_rpc_method_handler(chat),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    sys.exit(main())
