"""``origin worker``: the process that runs warm jobs for a fleet of servers."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.runner.origin import origin_env
from bench.runner.processes import background, free_port


@dataclass(frozen=True)
class Worker:
    """One running ``origin worker``: where its metrics answer, and its JSON log."""

    metrics_port: int
    log: Path


@contextlib.contextmanager
def worker(home: Path, work: Path, name: str, **settings: str) -> Iterator[Worker]:
    """``origin worker --metrics-port P`` on ``home`` until the block ends, once P answers.

    Its log is ``work/worker-<name>.log``; its staging cache is the worker's
    default, ``home/worker-cache``. It is ready once its metrics answer:
    jobs deferred before it connects wait in PostgreSQL, so nothing is lost.
    """
    port, log = free_port(), work / f"worker-{name}.log"
    home.mkdir(parents=True, exist_ok=True)
    with background(
        [sys.executable, "-m", "origin", "worker", "--metrics-port", str(port)],
        port=port, log=log, ready_path="/metrics", env=origin_env(home, **settings),
    ):  # fmt: skip
        yield Worker(port, log)
