#!/usr/bin/python3
"""A gRPC health server on grpcio (Debian's python3-grpcio), for the grpc check's tests.

Debian has no grpcio-health-checking, so this serves grpc.health.v1.Health/Check itself with a
generic handler: the real gRPC stack (HTTP/2, framing, status trailers), the two one-field
messages encoded by hand.

    grpc_health.py ADDRESS PORT [SERVICE=STATUS ...]

STATUS is SERVING or NOT_SERVING; write =SERVING for the whole server (service ""). A service
not listed is answered NOT_FOUND, as the reference servicer does. Prints "listening" once it is.
"""
import sys
from concurrent import futures

import grpc

STATUSES = {"UNKNOWN": 0, "SERVING": 1, "NOT_SERVING": 2}


def service_of(request: bytes) -> str:
    """Field 1 (string) of HealthCheckRequest; absent is ""."""
    i, service = 0, ""
    while i < len(request):
        key = request[i]
        i += 1
        length, shift = 0, 0
        while True:
            b = request[i]
            i += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if key == 0x0A:
            service = request[i : i + length].decode()
        i += length if key & 7 == 2 else 0
    return service


def main() -> None:
    address, port = sys.argv[1], int(sys.argv[2])
    statuses = {}
    for arg in sys.argv[3:]:
        name, status = arg.split("=", 1)
        statuses[name] = STATUSES[status]

    def check(request: bytes, context: grpc.ServicerContext) -> bytes:
        service = service_of(request)
        if service not in statuses:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return bytes([0x08, statuses[service]])

    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"{address}:{port}")
    server.start()
    print("listening", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
