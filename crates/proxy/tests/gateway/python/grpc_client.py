"""A gRPC client (grpcio, raw bytes) for the gRPC proxying tests.

argv: target (`host:port`), method (`Unary`, `Fail`, `Slow`, `Chat`), then `key=value` request
metadata. Calls `/test.Echo/<method>` (Chat sends `a`, `b`, `c`) with a 10 s deadline and
prints one JSON object: `code` (the status name), `details`, `responses` (text), `initial` and
`trailing` (metadata as an object, first value of each key)."""
import json
import sys

import grpc


def metadata_dict(pairs):
    out = {}
    for key, value in pairs or ():
        out.setdefault(key, value if isinstance(value, str) else value.decode("latin-1"))
    return out


def main():
    target, method, *pairs = sys.argv[1:]
    metadata = [tuple(p.split("=", 1)) for p in pairs]
    channel = grpc.insecure_channel(target)
    path = "/test.Echo/" + method
    result = {}
    try:
        if method == "Chat":
            call = channel.stream_stream(path)(iter([b"a", b"b", b"c"]), metadata=metadata, timeout=10)
            result["responses"] = [m.decode() for m in call]
        else:
            response, call = channel.unary_unary(path).with_call(b"hi", metadata=metadata, timeout=10)
            result["responses"] = [response.decode()]
    except grpc.RpcError as error:
        call = error
        result["responses"] = []
    result["code"] = call.code().name
    result["details"] = call.details()
    result["initial"] = metadata_dict(call.initial_metadata())
    result["trailing"] = metadata_dict(call.trailing_metadata())
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
