"""The responsiveness sampler's per-request CPU waits, read from the kernel's schedstat."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.runner.origin import Origin
from bench.saturation.clients import _timed, client
from bench.saturation.model import Answer, Probe, Server

# One thread answers every request (no thread per request): like the origin's
# event loop, the server's main thread is the one whose wait is read.
SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""
SPIN = "while True: pass"


@contextlib.contextmanager
def _process(code: str, cpu: int) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        os.sched_setaffinity(proc.pid, {cpu})
        yield proc
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def _pinned(cpu: int) -> Iterator[None]:
    """This thread on ``cpu`` only, for the block."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@pytest.mark.skipif(not Path("/proc/thread-self/schedstat").exists(), reason="needs schedstat")
def test_waits_are_those_of_a_cpu_shared_with_a_busy_process(tmp_path: Path) -> None:
    cpu = min(os.sched_getaffinity(0))
    with _process(SERVER, cpu) as server_proc, _process(SPIN, cpu), _pinned(cpu):
        assert server_proc.stdout is not None
        port = int(server_proc.stdout.readline())
        server = Server(0, Origin(port, tmp_path, tmp_path / "log", "file"), server_proc.pid, ())
        with client(port) as http:
            answers = [_timed(http, server, Probe("ok", "/", 200), f"r{n}") for n in range(10)]
            wrong = _timed(http, server, Probe("ok", "/missing", 200), "r-missing")
    assert all(isinstance(a, Answer) for a in answers)
    timed = [a for a in answers if isinstance(a, Answer)]
    # On one CPU with a process that never sleeps, both the sampler and the
    # server wait for it each time they wake up.
    assert sum(a.client_wait_s for a in timed) > 0
    assert sum(a.loop_wait_s for a in timed) > 0
    assert all(a.client_wait_s >= 0 and a.loop_wait_s >= 0 for a in timed)
    assert wrong == 404  # an unexpected status comes back as the status, untimed
