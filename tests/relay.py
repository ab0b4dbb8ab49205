"""A TCP relay in front of PostgreSQL that can play a suspended machine.

When a Fly.io machine is suspended (a Firecracker snapshot) its whole kernel
stops, TCP stack included. PostgreSQL (or PgBouncer, or a NAT on the way)
may close the machine's idle connections meanwhile: the FIN and the FATAL
message before it are never received, and once the peer has forgotten the
connection, the resumed machine's next write on it is answered with a reset.
Until that write, the connection looks perfectly alive to the process.

Killing backends with ``pg_terminate_backend`` is not enough to reproduce
that: a running process receives the FIN at once, and asyncpg marks the
connection closed before anybody uses it. :meth:`Relay.suspended` swallows
what PostgreSQL sends while the backends are killed, and afterwards answers
the first bytes sent on each severed connection with a reset (``SO_LINGER``
0), exactly what the resumed machine sees. Or, ``then="silence"``, with
nothing at all: a NAT that dropped the flow drops the packets too.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit, urlunsplit


@dataclass
class _Link:
    client: socket.socket
    upstream: socket.socket
    #: The backend is gone but the client was not told: its next bytes get a
    #: reset, or (silent) are dropped, as long as it keeps sending.
    severed: bool = False
    silent: bool = False
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset_client(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(OSError):
                self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.client.close()
            self.upstream.close()

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            for sock in (self.client, self.upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


class Relay:
    """Relays ``dsn``'s PostgreSQL on a port of its own (:attr:`dsn` points there)."""

    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        assert parts.hostname is not None, dsn
        assert parts.port is not None, dsn
        self._target = (parts.hostname, parts.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        port = self._listener.getsockname()[1]
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{port}"
        self.dsn = urlunsplit(
            parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host)
        )
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._frozen = threading.Event()
        self._silent = False
        self._refusing = False
        self._stopped = False
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def links(self) -> int:
        """Connections open through the relay now."""
        with self._lock:
            return sum(not link.closed and not link.severed for link in self._links)

    def severed(self) -> int:
        """Connections whose backend is gone without their client knowing."""
        with self._lock:
            return sum(not link.closed and link.severed for link in self._links)

    @contextlib.contextmanager
    def suspended(self, then: Literal["reset", "silence"] = "reset") -> Iterator[None]:
        """While the block runs, nothing PostgreSQL sends gets through, and each
        connection it closes is severed: kept open towards the client, which
        gets a reset on its next bytes, or no answer ever (after the block too)."""
        self._silent = then == "silence"
        self._frozen.set()
        try:
            yield
        finally:
            self._frozen.clear()

    @contextlib.contextmanager
    def refusing(self) -> Iterator[None]:
        """While the block runs, new connections are reset at once: PostgreSQL is down.

        (Stopping the real server would free its port for any other cluster
        started meanwhile on this machine.)"""
        self._refusing = True
        try:
            yield
        finally:
            self._refusing = False

    def sever_the_rest(self) -> None:
        """Close every connection still open towards PostgreSQL, from here: those
        pg_terminate_backend cannot reach, such as one whose client was stopped
        before it sent its startup message (a backend is listed only after it)."""
        with self._lock:
            links = [link for link in self._links if not link.closed and not link.severed]
        for link in links:
            with contextlib.suppress(OSError):
                link.upstream.shutdown(socket.SHUT_RDWR)

    def wait_severed(self, timeout_s: float = 10) -> int:
        """Wait until no connection is left but severed ones; return how many there are."""
        deadline = time.monotonic() + timeout_s
        while self.links():
            assert time.monotonic() < deadline, f"{self.links()} links still open"
            time.sleep(0.02)
        return self.severed()

    def close(self) -> None:
        self._stopped = True
        self._listener.close()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            link = _Link(client, upstream)
            with self._lock:
                self._links = [x for x in self._links if not x.closed]
                self._links.append(link)
            threading.Thread(target=self._to_server, args=(link,), daemon=True).start()
            threading.Thread(target=self._to_client, args=(link,), daemon=True).start()

    def _to_server(self, link: _Link) -> None:
        while True:
            try:
                data = link.client.recv(65536)
            except OSError:
                data = b""
            if link.severed and not link.silent:
                link.reset_client()  # the peer forgot this connection
                return
            if not data:
                link.close()
                return
            if link.severed:
                continue  # into the void
            try:
                link.upstream.sendall(data)
            except OSError:
                link.close()
                return

    def _to_client(self, link: _Link) -> None:
        while True:
            try:
                data = link.upstream.recv(65536)
            except OSError:
                data = b""
            if self._frozen.is_set():
                if not data:  # closed by the server while the client slept
                    with self._lock:
                        link.silent = self._silent
                        link.severed = True
                    return
                continue  # lost in transit
            if not data:
                link.close()
                return
            try:
                link.client.sendall(data)
            except OSError:
                link.close()
                return
