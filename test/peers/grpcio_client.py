"""A Python grpcio (C core) client peer: one unary call with raw bytes.

argv: address method request_hex timeout_s [key=value metadata ...]; `--cancel-after S`
cancels the call after S seconds. Prints one JSON line:
{"code": "OK", "details": ..., "reply": hex, "trailers": {key: value or hex for -bin}}.
"""
import json
import sys
import threading

import grpc


def main():
    args = sys.argv[1:]
    cancel_after = None
    if "--cancel-after" in args:
        i = args.index("--cancel-after")
        cancel_after = float(args[i + 1])
        del args[i : i + 2]
    address, method, req_hex, timeout = args[0], args[1], args[2], float(args[3])
    md = [tuple(a.split("=", 1)) for a in args[4:]]
    channel = grpc.insecure_channel(address)
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    out = {"code": "OK", "details": "", "reply": "", "trailers": {}}
    fut = call.future(bytes.fromhex(req_hex), timeout=timeout, metadata=md)
    if cancel_after is not None:
        threading.Timer(cancel_after, fut.cancel).start()
    try:
        out["reply"] = fut.result().hex()
        trailing = fut.trailing_metadata() or ()
    except grpc.FutureCancelledError:
        out["code"] = "CANCELLED"
        trailing = ()
    except grpc.RpcError as e:
        out["code"] = e.code().name
        out["details"] = e.details()
        trailing = e.trailing_metadata() or ()
    for k, v in trailing:
        out["trailers"][k] = v.hex() if isinstance(v, bytes) else v
    print(json.dumps(out), flush=True)
    channel.close()


if __name__ == "__main__":
    main()
