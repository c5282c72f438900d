"""A Python grpcio (C core) server peer for the transport conformance suite.

Serves /task.Task/ListTask, GetTaskById and GetPredictResult with raw bytes. The
request's `x-behaviour` metadata picks what it does:
  echo         reply = request bytes; request metadata echoed as trailing metadata
  error        status from `x-code`, message from `x-message-bin` (UTF-8), trailers x-trail and x-trail-bin
  sleep        sleep `x-ms` ms (checking cancellation), then echo; reports the time left
  big          reply of `x-bytes` bytes
  deadline     reply = the remaining deadline in ms (as ASCII)
Prints "PORT <n>" once listening; `--tls cert key [client_ca]` serves TLS (mTLS with a CA).
Counts cancellations it saw: GetTaskById with behaviour "stats" returns them as ASCII.
"""
import sys
import threading
import time
from concurrent import futures

import grpc

CANCELLED = [0]
LOCK = threading.Lock()


def handle(request, context):
    md = dict(context.invocation_metadata())
    b = md.get("x-behaviour", "echo")
    if b == "echo":
        context.set_trailing_metadata(
            [(k, v) for k, v in context.invocation_metadata() if k.startswith("x-")]
        )
        return request
    if b == "error":
        code = grpc.StatusCode.__members__[md.get("x-code", "NOT_FOUND")]
        context.set_trailing_metadata(
            [("x-trail", "plain"), ("x-trail-bin", b"\x00\x01\xfe\xff")]
        )
        context.abort(code, md.get("x-message-bin", b"failed").decode("utf-8"))
    if b == "sleep":
        end = time.time() + int(md.get("x-ms", "1000")) / 1000.0
        while time.time() < end:
            if not context.is_active():
                with LOCK:
                    CANCELLED[0] += 1
                return b""
            time.sleep(0.01)
        return request
    if b == "big":
        return b"x" * int(md.get("x-bytes", "1000"))
    if b == "deadline":
        return str(int(context.time_remaining() * 1000)).encode()
    if b == "stats":
        with LOCK:
            return str(CANCELLED[0]).encode()
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown behaviour " + b)


class Generic(grpc.GenericRpcHandler):
    def service(self, details):
        if details.method.startswith("/task.Task/"):
            return grpc.unary_unary_rpc_method_handler(handle)
        return None


def main():
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=32),
        options=[
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_concurrent_streams", 8),
        ],
    )
    server.add_generic_rpc_handlers((Generic(),))
    args = sys.argv[1:]
    if args and args[0] == "--tls":
        cert = open(args[1], "rb").read()
        key = open(args[2], "rb").read()
        ca = open(args[3], "rb").read() if len(args) > 3 else None
        creds = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("PORT %d" % port, flush=True)
    try:
        sys.stdin.read()  # exits when the test closes our stdin
    finally:
        server.stop(0)


if __name__ == "__main__":
    main()
