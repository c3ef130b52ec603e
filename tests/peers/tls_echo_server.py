"""A TLS echo peer for healthprobe's sync TLS stream tests: Python's ssl module (OpenSSL).

Usage: tls_echo_server.py CERT KEY. Binds 127.0.0.1:0, prints the port, then for each
connection echoes what it reads and, when the client is gone, prints one line saying how the
client ended the session: `close_notify` (a TLS close_notify, then FIN), `eof` (FIN without
close_notify), `reset` (RST) or `error: ...`. Serves until stdin closes.
"""

import socket
import ssl
import sys
import threading


def report(line: str) -> None:
    """Prints one line for the test; a test that does not read them (its end of the pipe is
    closed) must not stop the peer: the accept loop would die with the BrokenPipeError."""
    try:
        print(line, flush=True)
    except OSError:
        pass


def serve(conn: ssl.SSLSocket) -> None:
    how = "eof"
    try:
        while True:
            data = conn.recv(4096)
            if not data:
                # With suppress_ragged_eofs=False, b"" means a close_notify arrived.
                how = "close_notify"
                break
            conn.sendall(data)
    except ssl.SSLEOFError:
        how = "eof"
    except ConnectionResetError:
        how = "reset"
    except Exception as e:  # noqa: BLE001 - reported to the test, which decides
        how = f"error: {e!r}"
    finally:
        conn.close()
    report(how)


def main() -> None:
    cert, key = sys.argv[1], sys.argv[2]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)

    def accept() -> None:
        while True:
            raw, _ = listener.accept()
            try:
                conn = context.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
            except (ssl.SSLError, OSError) as e:
                report(f"handshake failed: {e!r}")
                raw.close()
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
