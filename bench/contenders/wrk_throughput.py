"""Warm throughput: requests a second that wrk gets from the origin's cache and from nginx.

Not a row of the latency tables: a table of its own, three servers per clip.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from bench.contenders.nginx_mp4 import target as nginx_target
from bench.runner.stage import Clip, Stage
from bench.runner.timing import fetch

ORIGIN = "origin (warm)"
NGINX = "nginx mp4 module"  # the row the others are set against
STATIC = "nginx, the origin's cached file as a static file"


def available() -> bool:
    """Whether wrk is installed (``make bench`` installs it)."""
    return shutil.which("wrk") is not None


def run_wrk(port: int, target: str, seconds: int) -> float:
    """Requests per second that wrk (2 threads, 8 connections) gets from ``target``."""
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", f"http://127.0.0.1:{port}{target}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"wrk got {bad.group(1)} error answers from {target}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return float(match.group(1))


def throughput(stage: Stage, clip: Clip, seconds: int) -> dict[str, tuple[float, int]]:
    """Server → (requests a second, bytes of one answer) for ``clip``, ``seconds`` each."""
    fetch(stage.editlist.port, clip.url)  # make sure the cached file is there for both
    cached = next(stage.editlist.cache_dir.glob(f"c{clip.request.clip_id}-v*.mp4"))
    rows = {}
    for server, port, path in (
        (ORIGIN, stage.editlist.port, clip.url),
        (NGINX, stage.nginx_port, nginx_target(stage, clip)),
        (STATIC, stage.nginx_port, f"/cache/{cached.name}"),
    ):
        body = fetch(port, path).size
        rows[server] = (run_wrk(port, path, seconds), body)
    return rows
