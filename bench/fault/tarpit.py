"""A municipality whose server accepts a push and then answers one byte at a time: a "tarpit".

Run as its own process: ``python -m bench.fault.tarpit --listen PORT [--byte-interval S]``.
Each byte arrives well inside any per-read timeout, so only a total deadline per push ends the
wait (issue 12, item 7). It never completes an answer within ``--hold`` seconds and stores nothing.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n" + b" " * 400


def serve(port: int, byte_interval: float, hold: float) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=_trickle, args=(conn, byte_interval, hold), daemon=True).start()


def _trickle(conn: socket.socket, byte_interval: float, hold: float) -> None:
    with conn:
        try:
            conn.settimeout(10)
            conn.recv(65536)  # the request head (and the start of the document); never answered in full
            ends = time.monotonic() + hold
            for byte in ANSWER:
                if time.monotonic() > ends:
                    return
                conn.sendall(bytes([byte]))
                time.sleep(byte_interval)
        except OSError:
            return  # the sender gave up: its deadline worked


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.fault.tarpit")
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--byte-interval", type=float, default=0.5)
    ap.add_argument("--hold", type=float, default=300.0)
    ns = ap.parse_args()
    serve(ns.listen, ns.byte_interval, ns.hold)


if __name__ == "__main__":
    main()
