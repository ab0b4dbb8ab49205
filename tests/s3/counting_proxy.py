"""A TCP proxy on loopback that counts the bytes the upstream server sends back."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class CountingProxy:
    """Forwards 127.0.0.1:<port> to ``upstream``; ``received`` counts upstream → client bytes."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.received = 0
        self.connections = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with socket.create_connection(proxy.upstream) as upstream_sock:
                    with proxy._lock:
                        proxy.connections += 1
                    up = threading.Thread(
                        target=proxy._pump, args=(self.request, upstream_sock, False), daemon=True
                    )
                    up.start()
                    proxy._pump(upstream_sock, self.request, True)
                    up.join(timeout=5)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]

    def _pump(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        try:
            while data := source.recv(65536):
                if count:
                    with self._lock:
                        self.received += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.received = 0
            self.connections = 0


@contextmanager
def counting_proxy(upstream: tuple[str, int]) -> Iterator[CountingProxy]:
    """Run a CountingProxy for the duration of the block."""
    proxy = CountingProxy(upstream)
    thread = threading.Thread(target=proxy._server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy._server.shutdown()
        proxy._server.server_close()
