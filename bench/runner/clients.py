"""HTTP clients other than the raw socket, timed the same way: a curl process, http.client.

The clip latency benchmark times a raw socket (:mod:`bench.runner.timing`);
these are the clients other harnesses use, so that their numbers can be
set against its own (``bench.client_styles``).
"""

from __future__ import annotations

import http.client
import subprocess
import time

from bench.runner.timing import Sample, closed_by_peer

#: curl's own timers: headers read, transfer done (seconds, from its start of the request).
CURL_TIMES = "%{http_code} %{time_starttransfer} %{time_total} %{size_download}"


def curl(port: int, target: str) -> tuple[Sample, Sample]:
    """One ``curl -o /dev/null`` process for ``target``: (its wall time, curl's own timers).

    The wall time runs from spawning the process to its exit, as a shell's
    ``time curl`` would; curl's own ``time_total`` leaves out its start-up and
    exit, and its ``time_starttransfer`` is the first byte of the *headers*.
    """
    start = time.perf_counter()
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", CURL_TIMES, f"http://127.0.0.1:{port}{target}"],
        check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    ).stdout  # fmt: skip
    wall = time.perf_counter() - start
    status, first, total, size = out.split()
    if status != "200":
        raise RuntimeError(f"curl GET {target} on port {port} answered {status}")
    return Sample(None, wall, int(size)), Sample(float(first), float(total), int(size))


def process_start(argv: list[str]) -> float:
    """Seconds to spawn ``argv`` and see it exit (``curl --version``: curl's start-up)."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


class PythonClient:
    """One keep-alive ``http.client`` connection that reads each body whole into memory
    (reconnected before the clock starts when the server has closed it)."""

    def __init__(self, port: int) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port)

    def get(self, target: str) -> Sample:
        """GET ``target``: time the headers (``getresponse``) and the whole body (``read``)."""
        sock = self._connection.sock
        if sock is None or closed_by_peer(sock):
            self._connection.close()  # connect again before the clock starts
            self._connection.connect()
        try:
            return self._timed_get(target)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # Closed by the server as we sent (its idle timeout): once more on a
            # new connection, with a new clock.
            self._connection.close()
            self._connection.connect()
            return self._timed_get(target)

    def _timed_get(self, target: str) -> Sample:
        start = time.perf_counter()
        self._connection.request("GET", target)
        response = self._connection.getresponse()
        head = time.perf_counter() - start
        body = response.read()
        total = time.perf_counter() - start
        if response.status != 200:
            raise RuntimeError(f"GET {target} answered {response.status}")
        return Sample(head, total, len(body))

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()
