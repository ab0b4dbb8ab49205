"""The benchmark's HTTP clients against a real server: sizes, kept connections, reconnects."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest

from bench.runner.clients import PythonClient
from bench.runner.timing import KeepAlive, fetch

BODY = bytes(range(256)) * 4096  # 1 MiB


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: ClassVar[list[object]] = []

    def setup(self) -> None:
        super().setup()
        self.connections.append(self.connection)

    def do_GET(self) -> None:
        self.send_response(200)
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(BODY), 100_000):
                piece = BODY[start : start + 100_000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(BODY)))
        if self.path == "/last":  # answer, then close the kept connection
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


class _IdleClosing(_Handler):
    timeout = 0.2  # seconds a kept connection may idle before the server closes it


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that refuses a chunked answer hangs up mid-body


@contextlib.contextmanager
def serving(handler: type[_Handler]) -> Iterator[tuple[int, list[object]]]:
    """A server on loopback: its port, and every connection it accepted."""
    handler.connections = []
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], handler.connections
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[tuple[int, list[object]]]:
    with serving(_Handler) as served:
        yield served


def test_fetch_reads_whole_bodies_in_any_read_size(server: tuple[int, list[object]]) -> None:
    port, connections = server
    for read_bytes in (1 << 20, 100 * 1024, 1000):
        sample = fetch(port, "/", read_bytes)
        assert sample.size == len(BODY)
        assert sample.ttfb_s is not None
        assert 0 < sample.ttfb_s <= sample.total_s
    assert fetch(port, "/chunked").size == len(BODY)
    assert len(connections) == 4  # a fresh connection each


@pytest.mark.parametrize("quick_ack", [False, True])
def test_keep_alive_reuses_one_connection_and_reopens_a_closed_one(
    server: tuple[int, list[object]], quick_ack: bool
) -> None:
    port, connections = server
    client = KeepAlive(port, quick_ack=quick_ack)
    try:
        sizes = [client.get("/").size for _ in range(3)]
        assert len(connections) == 1
        sizes.append(client.get("/last").size)  # the server closes after this one
        sizes.append(client.get("/").size)
    finally:
        client.close()
    assert sizes == [len(BODY)] * 5
    assert len(connections) == 2


def test_keep_alive_refuses_an_answer_without_length(server: tuple[int, list[object]]) -> None:
    client = KeepAlive(server[0])
    try:
        with pytest.raises(RuntimeError, match="no Content-Length"):
            client.get("/chunked")
    finally:
        client.close()


def test_kept_clients_reconnect_after_an_idle_close() -> None:
    with serving(_IdleClosing) as (port, connections):
        kept, python = KeepAlive(port), PythonClient(port)
        try:
            first = [kept.get("/").size, python.get("/").size]
            time.sleep(0.5)  # both connections are closed by the server meanwhile
            again = [kept.get("/").size, python.get("/").size]
        finally:
            kept.close()
            python.close()
    assert first == again == [len(BODY)] * 2
    assert len(connections) == 4
