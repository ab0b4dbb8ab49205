"""Real origin servers (`python -m origin serve` under uvicorn) and what tests ask of them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A running origin server process."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=60)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _spawn(
    home: Path, env: dict[str, str], command: str, *args: str
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """Run ``origin <command> <args> <port>`` in ``home`` with ``env`` added to a clean
    environment (no ORIGIN_* or DATABASE_* of ours); its output goes to a log file."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / f"{command}-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ORIGIN_", "DATABASE_"))}
    full_env.update({"ORIGIN_HOME": str(home), **env})
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "origin", command, *args, str(port)],
            env=full_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return process, port, log_path


def start_server(home: Path, env: dict[str, str]) -> Server:
    """Start `origin serve` with ``env`` added to a clean environment; wait until it answers."""
    process, port, log_path = _spawn(home, env, "serve", "--port")
    return wait_until_serving(Server(process, f"http://127.0.0.1:{port}", log_path))


def wait_until_serving(server: Server, timeout_s: float = 30) -> Server:
    """Wait until ``server`` answers ``/healthz``; stop it and fail if it exits or never does."""
    process = server.process
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not come up:\n{server.log()}")


ServerFactory = Callable[..., Server]


def register(
    database_url: str, video: Path | str, *args: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Register ``video`` through the real CLI; return its ``sources add --json`` output."""
    result = subprocess.run(
        [sys.executable, "-m", "origin", "sources", "add", str(video), "--json", *args],
        env={"DATABASE_URL": database_url, "PATH": os.environ["PATH"], **(env or {})},
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    added: dict[str, Any] = json.loads(result.stdout)
    return added


def ffmpeg_children(pid: int) -> list[int]:
    """PIDs of ffmpeg processes whose parent is ``pid`` (zombies included)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if ppid == pid and "ffmpeg" in comm:
            found.append(int(stat.parent.name))
    return found


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(http: httpx.Client) -> Samples:
    """Every sample of ``/metrics``, keyed by name and labels."""
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def json_lines(server: Server) -> list[dict[str, Any]]:
    """The server's log as JSON objects; fails if any line is not JSON."""
    lines = [line for line in server.log().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line must be JSON


@dataclass
class Worker:
    """A running ``origin worker`` process with its metrics endpoint."""

    process: subprocess.Popen[bytes]
    metrics_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> Samples:
        return scrape(httpx.Client(base_url=self.metrics_url, timeout=10))

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_worker(home: Path, env: dict[str, str], *args: str) -> Worker:
    """Start ``origin worker`` like :func:`start_server`; wait until it says it started."""
    process, port, log_path = _spawn(home, env, "worker", *args, "--metrics-port")
    worker = Worker(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited with {process.returncode}:\n{worker.log()}")
        if "worker_started" in worker.log():
            return worker
        time.sleep(0.1)
    worker.stop()
    raise RuntimeError(f"worker did not come up:\n{worker.log()}")


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``predicate`` until it holds; return the seconds it took, or fail naming ``what``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic() - started
