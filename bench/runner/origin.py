"""The origin under test: a scratch ORIGIN_HOME and its private cluster, servers, cold GETs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.runner.processes import background, free_port
from bench.runner.timing import Sample, fetch
from db.embedded import private_cluster as embedded_cluster
from origin.database import PRIVATE_DATABASE


def origin_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment for an ``origin`` command on ``home``, plus ``extra``.

    Our own ORIGIN_* settings and DATABASE_URL are dropped: the servers use
    the private cluster under ``home`` and nothing but what the benchmark sets.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORIGIN_")}
    env.pop("DATABASE_URL", None)  # unset → the private cluster under ORIGIN_HOME
    env.update(ORIGIN_HOME=str(home), ORIGIN_SHUTDOWN_GRACE_S="1", **extra)
    return env


@contextlib.contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    """A scratch directory for the run (home, caches, logs), removed when the block ends."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        # The postgres user (the cluster, when we are root) and nginx's workers
        # (nobody) must reach inside.
        work.chmod(0o755)
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def private_cluster(home: Path) -> Iterator[dict[str, str]]:
    """The environment of ``origin`` commands on ``home``; its cluster is stopped at the end."""
    env = origin_env(home)
    try:
        yield env
    finally:
        subprocess.run(
            [sys.executable, "-m", "origin", "db", "stop"],
            env=env, check=False, capture_output=True, timeout=120,
        )  # fmt: skip


def database_url(home: Path) -> str:
    """The DSN of the database ``origin`` commands on ``home`` use, once its cluster runs.

    For processes with homes of their own (replicas, a worker) that must
    share it: as DATABASE_URL, like a fleet's shared PostgreSQL.
    """
    admin = embedded_cluster(home).ensure_running()  # the maintenance database's DSN
    return admin.rsplit("/", 1)[0] + "/" + PRIVATE_DATABASE


def add_source(env: Mapping[str, str], source: Path, *options: str) -> list[dict[str, Any]]:
    """``origin sources add <source> --json <options>``: the clips it made."""
    out = subprocess.run(
        [sys.executable, "-m", "origin", "sources", "add", str(source), "--json", *options],
        env=dict(env), check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    clips: list[dict[str, Any]] = json.loads(out)["clips"]
    return clips


@dataclass(frozen=True)
class CacheCleaner:
    """Deletes the cached file of clip ``clip_id`` in ``form`` from ``cache_dir`` when called.

    A dataclass rather than a closure so that it can be handed to another
    process (the responsiveness benchmark's samplers run in their own).
    """

    cache_dir: Path
    clip_id: int
    form: str

    def __call__(self) -> None:
        # Deleting the finished file behind the server's back is how each request
        # is made cold: ClipCache.lookup() stats the path and treats a missing
        # file as a miss (pool/cache.py), so the next GET cuts again. The file is
        # ``<ClipRequest.cache_key>.mp4``, the key ``c<id>-v<version>-<form>-<hash>``
        # (form: file, smart or pipe); the hash covers the server's source identity.
        for path in self.cache_dir.glob(f"c{self.clip_id}-v*-{self.form}-*.mp4"):
            path.unlink()


def fetch_cold(port: int, target: str, clean: Callable[[], None]) -> Sample:
    """Empty the server's cache of this clip, then :func:`fetch` it."""
    clean()
    return fetch(port, target)


@dataclass(frozen=True)
class Origin:
    """One running ``origin serve``: its port, cache directory and JSON log."""

    port: int
    cache_dir: Path
    log: Path
    form: str  # the form its cache keys name: file, smart or pipe

    def cold(self, target: str, clip_id: int) -> Callable[[], Sample]:
        """A timer of cold GETs of ``target``, clip ``clip_id``'s cached file deleted first."""
        return partial(
            fetch_cold, self.port, target, CacheCleaner(self.cache_dir, clip_id, self.form)
        )


@contextlib.contextmanager
def serve(home: Path, work: Path, name: str, form: str, **settings: str) -> Iterator[Origin]:
    """``origin serve`` on ``home`` with ``settings`` until the block ends, once it answers.

    Its cache is ``work/cache-<name>``, its log ``work/origin-<name>.log``.
    """
    port, cache_dir, log = free_port(), work / f"cache-{name}", work / f"origin-{name}.log"
    env = origin_env(home, ORIGIN_CACHE_DIR=str(cache_dir), **settings)
    with background(
        [sys.executable, "-m", "origin", "serve", "--port", str(port)],
        port=port, log=log, ready_path="/healthz", env=env,
    ):  # fmt: skip
        yield Origin(port, cache_dir, log, form)


def _logged(log: Path, event: str, **fields: str) -> int:
    """How many of a server's JSON log lines are ``event`` with these field values."""
    count = 0
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == event:
                count += all(record.get(k) == v for k, v in fields.items())
    return count


def check_cold(log: Path, expected: int, event: str, **fields: str) -> None:
    """Fail unless the server logged one cut per cold request: none was served from its cache."""
    got = _logged(log, event, **fields)
    if got != expected:
        raise RuntimeError(f"{log.name}: {got} {event} {fields} lines, {expected} cold requests")
