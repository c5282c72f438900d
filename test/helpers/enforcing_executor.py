"""A gRPC server that enforces the keepalive ping policy the way an Executor's grpc-go
server does (spec §9), in grpcio's C core: a ping sooner than `min_ping_ms` after the
last one while no data was sent, or any ping with no call in flight, is a strike; past
`max_strikes` strikes the server sends GOAWAY too_many_pings. Times scaled down for tests.

It answers /task.Task/ListTask with an empty list after `delay_ms` (the server sends no
data while it waits). Usage: enforcing_executor.py MIN_PING_MS DELAY_MS; prints the port.
Run with /usr/bin/python3 (grpcio from python3-grpcio).
"""
import sys
import time
from concurrent import futures

import grpc


def main() -> None:
    min_ping_ms = int(sys.argv[1])
    delay_s = int(sys.argv[2]) / 1000.0

    def list_task(_request: bytes, _context: grpc.ServicerContext) -> bytes:
        time.sleep(delay_s)
        return b""

    class Handler(grpc.GenericRpcHandler):
        def service(self, details):
            if details.method == "/task.Task/ListTask":
                return grpc.unary_unary_rpc_method_handler(list_task)
            return None

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=32),
        handlers=(Handler(),),
        options=[
            ("grpc.http2.min_ping_interval_without_data_ms", min_ping_ms),
            ("grpc.http2.min_time_between_pings_ms", min_ping_ms),
            ("grpc.http2.max_ping_strikes", 2),
            ("grpc.keepalive_permit_without_calls", 0),
        ],
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    # Ends when the test closes stdin (or kills the process).
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
