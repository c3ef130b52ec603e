"""An HTTPS peer for healthprobe's tests: Python's http.server behind ssl.

Usage: https_server.py CERT KEY [CLIENT_CA]. With CLIENT_CA, clients must present a
certificate signed by it (mutual TLS). Binds 127.0.0.1:0, prints the port, answers every
GET with 200 "ok" (and the client certificate's CN, if any), serves until stdin closes.
"""

import http.server
import ssl
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        peer = self.connection.getpeercert()
        if peer:
            subject = dict(x[0] for x in peer.get("subject", ()))
            body += b" client=" + subject.get("commonName", "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    cert, key = sys.argv[1], sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if len(sys.argv) > 3:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
