"""Timed runs: one GET on a fresh or a kept-alive loopback connection, one ffmpeg subprocess."""

from __future__ import annotations

import select
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

READ_BYTES = 1 << 20  # a recv at most: the raw-socket client drains the socket in big reads


@dataclass(frozen=True)
class Sample:
    """One timed fetch (or ffmpeg run): seconds to first body byte and to the last, bytes."""

    ttfb_s: float | None  # None where there is no response (raw ffmpeg)
    total_s: float
    size: int


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def _dechunked_size(body: bytes) -> int:
    """Payload bytes of a ``Transfer-Encoding: chunked`` body."""
    size = pos = 0
    while True:
        eol = body.index(b"\r\n", pos)
        length = int(body[pos:eol].split(b";")[0], 16)
        if length == 0:
            return size
        size += length
        pos = eol + 2 + length + 2


class ConnectionClosed(RuntimeError):
    """The server closed the connection before answering at all."""


def _request(port: int, target: str, connection: str) -> bytes:
    return (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: {connection}\r\n\r\n"
    ).encode()


def _exchange(
    sock: socket.socket, request: bytes, port: int, target: str, *, until_close: bool,
    started: float | None = None, read_bytes: int = READ_BYTES,
) -> Sample:  # fmt: skip
    """Send ``request`` and read its answer, timed from ``started`` (default: the send),
    at most ``read_bytes`` a ``recv``.

    Without ``until_close`` the answer must carry a Content-Length (a
    keep-alive connection reads exactly that much and stays open).
    """
    buf = bytearray(read_bytes)
    head = bytearray()
    header_end = -1
    status = 0
    length: int | None = None
    chunked: list[bytes] = []
    ttfb: float | None = None
    received = 0
    start = time.perf_counter() if started is None else started
    sock.sendall(request)
    while n := sock.recv_into(buf):
        data = memoryview(buf)[:n]
        if header_end < 0:
            head += data
            header_end = head.find(b"\r\n\r\n")
            if header_end < 0:
                continue
            status, headers = _parse_head(bytes(head[:header_end]))
            if "content-length" in headers:
                length = int(headers["content-length"])
            elif not until_close:
                raise RuntimeError(f"GET {target} on port {port}: no Content-Length to keep alive")
            data = memoryview(bytes(head[header_end + 4 :]))
        if data and ttfb is None:
            ttfb = time.perf_counter() - start
        received += len(data)
        if length is None:
            chunked.append(bytes(data))  # decoded after the clock stops
        elif received >= length:
            break
    total = time.perf_counter() - start
    if not head:
        raise ConnectionClosed(f"GET {target} on port {port}: closed before any answer")
    if status != 200:
        raise RuntimeError(f"GET {target} on port {port} answered {status}: {bytes(head)[:300]!r}")
    if length is not None and received != length:
        raise RuntimeError(f"GET {target} on port {port}: {received} of {length} bytes")
    size = received if length is not None else _dechunked_size(b"".join(chunked))
    return Sample(ttfb, total, size)


def fetch(port: int, target: str, read_bytes: int = READ_BYTES) -> Sample:
    """GET ``target`` on a fresh loopback connection; time the first body byte and the last.

    A raw socket rather than an HTTP library: reading 40 MB in 64 KiB pieces
    through Python-level parsing costs tens of milliseconds, which would hide
    the difference between two fast servers. The clock includes the connect.
    """
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        return _exchange(
            sock, _request(port, target, "close"), port, target, until_close=True,
            started=start, read_bytes=read_bytes,
        )  # fmt: skip


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether an idle kept-alive connection has something to read: the server's EOF
    (an idle timeout), so the next request must open a new connection."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class KeepAlive:
    """One keep-alive loopback connection: the same raw-socket GET as :func:`fetch`,
    each request on the connection the previous one left open.

    A server that closed it in between (an idle timeout) is reconnected before
    the clock starts, so every timed GET runs on an open connection.
    """

    def __init__(self, port: int, *, quick_ack: bool = False) -> None:
        self.port = port
        # TCP_NODELAY, and TCP_QUICKACK before each request (Linux clears it
        # again as it pleases): no Nagle or delayed-ACK wait on our side.
        self.quick_ack = quick_ack
        self._sock: socket.socket | None = None

    def _open(self) -> socket.socket:
        sock = self._sock
        if sock is not None and closed_by_peer(sock):
            sock.close()
            sock = None
        if sock is None:
            sock = socket.create_connection(("127.0.0.1", self.port))
            if self.quick_ack:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        if self.quick_ack:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return sock

    def get(self, target: str) -> Sample:
        """GET ``target``; time the first body byte and the last."""
        request = _request(self.port, target, "keep-alive")
        reused = self._sock is not None
        try:
            try:
                return _exchange(self._open(), request, self.port, target, until_close=False)
            except ConnectionClosed:
                if not reused:
                    raise
                # Closed by the server as we sent (its idle timeout, or it had
                # said Connection: close): once more on a new connection, with
                # a new clock.
                self.close()
                return _exchange(self._open(), request, self.port, target, until_close=False)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection (a later :meth:`get` opens a new one)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def run_ffmpeg(argv: Sequence[str], output: Path) -> Sample:
    """Run one ffmpeg cut to ``output`` (deleted first, as the origin's temp is new) and time it."""
    output.unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return Sample(None, time.perf_counter() - start, output.stat().st_size)
