"""An independent gRPC health server for healthprobe's tests (Python grpcio + grpcio-health-checking).

Binds 127.0.0.1:0 (or --unix PATH), prints the chosen port (0 for unix) on one line, and serves
until stdin closes.
  --set NAME=STATUS        serving status of a service (SERVING, NOT_SERVING, SERVICE_UNKNOWN,
                           UNKNOWN; NAME may be empty for the whole server); repeatable
  --no-health              serve no health service at all
  --fail CODE              answer every Check with this gRPC status code (e.g. RESOURCE_EXHAUSTED)
  --require KEY=VALUE      answer PERMISSION_DENIED unless the metadata has KEY=VALUE exactly;
                           repeatable (`user-agent^=x` checks a prefix)
  --tls CERT KEY           serve TLS; --client-ca CA additionally requires client certificates
  --huge BYTES             answer Check with SERVING plus an unknown field of BYTES bytes
  --slow SECONDS           wait this long before answering each Check (an RPC that hangs)
  --listen-after SECONDS   print the port at once but listen only after this long (a server
                           that is still starting: until then the port refuses connections)
"""

import argparse
import socket
import sys
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


class StrictHealth(health.HealthServicer):
    def __init__(self, fail, require, slow):
        super().__init__()
        self._fail = fail
        self._require = require
        self._slow = slow

    def Check(self, request, context):
        metadata = dict(context.invocation_metadata())
        for key, value in self._require:
            if key.endswith("^"):
                ok = metadata.get(key[:-1], "").startswith(value)
            else:
                ok = metadata.get(key) == value
            if not ok:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, f"missing metadata {key}={value}: got {metadata}")
        if self._slow:
            time.sleep(self._slow)
        if self._fail:
            context.abort(getattr(grpc.StatusCode, self._fail), "shedding load")
        return super().Check(request, context)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", action="append", default=[], metavar="NAME=STATUS")
    parser.add_argument("--no-health", action="store_true")
    parser.add_argument("--fail")
    parser.add_argument("--require", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--client-ca")
    parser.add_argument("--unix")
    parser.add_argument("--huge", type=int)
    parser.add_argument("--slow", type=float)
    parser.add_argument("--listen-after", type=float)
    args = parser.parse_args()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_send_message_length", -1)])
    if args.huge:
        # status=SERVING (field 1) and field 2 (unknown to the client) of --huge bytes.
        size, varint = args.huge, b""
        while True:
            byte, size = size & 0x7F, size >> 7
            varint += bytes([byte | (0x80 if size else 0)])
            if not size:
                break
        answer = b"\x08\x01\x12" + varint + b"x" * args.huge
        handler = grpc.unary_unary_rpc_method_handler(
            lambda request, context: answer,
            request_deserializer=lambda b: b, response_serializer=lambda b: b)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": handler}),))
    elif not args.no_health:
        require = [tuple(r.split("=", 1)) for r in args.require]
        servicer = StrictHealth(args.fail, require, args.slow)
        for item in args.set:
            name, _, status = item.partition("=")
            servicer.set(name, health_pb2.HealthCheckResponse.ServingStatus.Value(status))
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    address = f"unix:{args.unix}" if args.unix else "127.0.0.1:0"
    if args.listen_after:
        # Hold the port (bound, not listening: connections are refused) so that nothing else
        # takes it; grpcio binds it again with SO_REUSEPORT once "started".
        reserved = socket.socket()
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind(("127.0.0.1", 0))
        address = "127.0.0.1:%d" % reserved.getsockname()[1]
        print(reserved.getsockname()[1], flush=True)
        time.sleep(args.listen_after)
    if args.tls:
        cert, key = (open(p, "rb").read() for p in args.tls)
        client_ca = open(args.client_ca, "rb").read() if args.client_ca else None
        creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca,
                                            require_client_auth=client_ca is not None)
        port = server.add_secure_port(address, creds)
    else:
        port = server.add_insecure_port(address)
    server.start()
    if not args.listen_after:
        print(0 if args.unix else port, flush=True)
    sys.stdin.read()
    server.stop(grace=None)


if __name__ == "__main__":
    main()
