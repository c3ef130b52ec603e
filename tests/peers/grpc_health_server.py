"""An independent gRPC health server for healthprobe's tests (Python grpcio + grpcio-health-checking).

Binds 127.0.0.1:0, prints the chosen port on one line, serves until stdin closes.
Statuses: `--set NAME=STATUS` (repeatable; STATUS is SERVING, NOT_SERVING, SERVICE_UNKNOWN or UNKNOWN;
NAME may be empty for the whole server). `--no-health` serves no health service at all.
"""

import argparse
import sys
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", action="append", default=[], metavar="NAME=STATUS")
    parser.add_argument("--no-health", action="store_true")
    args = parser.parse_args()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    if not args.no_health:
        servicer = health.HealthServicer()
        for item in args.set:
            name, _, status = item.partition("=")
            servicer.set(name, health_pb2.HealthCheckResponse.ServingStatus.Value(status))
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(grace=None)


if __name__ == "__main__":
    main()
