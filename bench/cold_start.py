"""Cold start: from ``origin serve``'s process start to its first answers (scale to zero).

``.venv/bin/python -m bench.cold_start [--runs N] [--output PATH]`` (``make
bench``, after ``bench.warming``) starts a fresh ``origin serve`` for every
sample, as a machine woken by its first request would, and times from just
before the process is spawned:

1. ``/healthz`` 200 (liveness: the server listens), then ``/readyz`` 200
   (PostgreSQL answers, ffmpeg runs, the cache is writable), polled every
   :data:`POLL_S`; the same with ``ORIGIN_WORKER=inline`` (as fly.toml runs
   it: the job worker starts in the server);
2. in another fresh process, ``/healthz`` 200, then at once the first clip,
   cold (a new cache directory, no clip store): its first and last byte; then
   a second cold clip in the now-warm process, for contrast;
3. ``/healthz`` 200 without ``DATABASE_URL`` (the private cluster ``make run``
   uses, already running: the server checks it and its migrations first);
4. ``import origin.app``, what ``origin serve`` imports before it starts
   (``origin.cli``, ``origin.server``), boto3 with an S3 client (what an S3
   clip store's first call waits for), and ``import structlog`` with and
   without rich (which the dev tools install, and structlog loads if it can),
   in fresh interpreters.

The servers use the private cluster of a throwaway ORIGIN_HOME through
``DATABASE_URL``, as a deployment does; both clips last 10 s of the 1080p
source and start 1.4 s into a GOP (the smart cut re-encodes the rest of it).
It replaces its own section of docs/benchmarks.md (or ``PATH``), between
``<!-- cold-start -->`` and ``<!-- /cold-start -->``; the text is in
bench/report/cold_start.py. Every process is stopped in ``finally``; about a
minute on 2 CPUs.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.report.cold_start import BEGIN, END, HEAVY, ClipRun, Imports, Results, render
from bench.report.page import section_main
from bench.runner.origin import (
    add_source,
    check_cold,
    database_url,
    origin_env,
    private_cluster,
    workspace,
)
from bench.runner.processes import free_port, spawned
from bench.runner.source import REPO, ensure_source
from bench.runner.timing import fetch
from bench.saturation.procfs import QUIET_BUSY, wait_quiet
from pool.ffmpeg_binary import find_ffmpeg

#: Cuts that make clips 2 and 3 of the source [123.4, 133.4) and [133.4, 143.4):
#: 10 s each, starting 1.4 s into a GOP (keyframes every 2 s).
CUTS = "123.4,133.4,143.4"
POLL_S = 0.002
START_TIMEOUT_S = 60.0

#: Prints the seconds an import took and the top-level packages it loaded.
_IMPORT = """
import json, sys, time
started = time.perf_counter()
{statement}
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "modules": len(sys.modules),
                  "packages": sorted({{m.split(".")[0] for m in sys.modules}})}}))
"""
IMPORTS = {
    "app": "import origin.app",
    "serve": "import origin.cli, origin.server",
    "s3": "from pool.sources.locations import s3_client; s3_client(None)",
    # What rich, which the dev tools install, adds to structlog's import.
    "structlog": "import structlog",
    "structlog-no-rich": "sys.modules['rich'] = None\nimport structlog",
}


def _first_200(port: int, path: str, process: subprocess.Popen[bytes], started: float) -> float:
    """Seconds from ``started`` until ``path`` answers 200 (polled on fresh connections)."""
    while time.perf_counter() - started < START_TIMEOUT_S:
        if process.poll() is not None:
            raise RuntimeError(f"origin serve exited with {process.returncode} before {path}")
        with contextlib.suppress(OSError, RuntimeError):  # refused, or not 200 yet
            fetch(port, path)
            return time.perf_counter() - started
        time.sleep(POLL_S)
    raise RuntimeError(f"{path} did not answer 200 within {START_TIMEOUT_S:g} s")


def _serve_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "origin", "serve", "--port", str(port)]


class Bench:
    """One workspace, its cluster and its registered clips; every run starts a server."""

    def __init__(self, work: Path, home: Path, dsn: str, clips: Sequence[str]) -> None:
        self.work, self.home, self.dsn, self.clips = work, home, dsn, clips
        self.busiest = 0.0  # the busiest CPU share seen before a run (should stay low)

    def _env(self, name: str, **extra: str) -> dict[str, str]:
        """A server's environment: DATABASE_URL, no store, a new cache, ``extra``; an
        ``extra`` DATABASE_URL of "" leaves it unset (the private cluster)."""
        settings = {
            "DATABASE_URL": self.dsn,
            "ORIGIN_CLIP_STORE": "none",
            "ORIGIN_CACHE_DIR": str(self.work / f"cache-{name}"),
            **extra,
        }
        return origin_env(self.home, **{k: v for k, v in settings.items() if v})

    def _quiet(self) -> None:
        self.busiest = max(self.busiest, wait_quiet())

    def probes(self, name: str, **settings: str) -> tuple[float, float]:
        """Process start → /healthz 200, → /readyz 200."""
        self._quiet()
        port, log = free_port(), self.work / f"serve-{name}.log"
        started = time.perf_counter()
        env = self._env(name, **settings)
        with spawned(_serve_argv(port), log=log, env=env) as process:
            healthz = _first_200(port, "/healthz", process, started)
            readyz = _first_200(port, "/readyz", process, started)
        return healthz, readyz

    def clips_run(self, name: str) -> ClipRun:
        """Process start → /healthz 200, then the first clip at once, then the second."""
        self._quiet()
        port, log = free_port(), self.work / f"serve-{name}.log"
        started = time.perf_counter()
        with spawned(_serve_argv(port), log=log, env=self._env(name)) as process:
            healthz = _first_200(port, "/healthz", process, started)
            asked = time.perf_counter() - started
            first = fetch(port, self.clips[0])
            second = fetch(port, self.clips[1])
        check_cold(log, 2, "smart_cut")  # both were cut, by the smart cut
        return ClipRun(healthz, asked, first, second)

    def private_cluster_healthz(self, name: str) -> float:
        """Process start → /healthz 200, without DATABASE_URL."""
        self._quiet()
        port, log = free_port(), self.work / f"serve-{name}.log"
        started = time.perf_counter()
        with spawned(_serve_argv(port), log=log, env=self._env(name, DATABASE_URL="")) as process:
            return _first_200(port, "/healthz", process, started)


def _time_import(statement: str) -> Imports:
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT.format(statement=statement)],
        check=True, capture_output=True, text=True, cwd=REPO,
    ).stdout  # fmt: skip
    found = json.loads(out)
    return Imports(found["seconds"], found["modules"], sorted(set(found["packages"]) & set(HEAVY)))


def _byte_compile() -> None:
    """Byte-compile the project first, as its image is: with PYTHONDONTWRITEBYTECODE set
    (as here) a module edited since its cache was written is compiled again by every
    process, and the rows would time the compiler."""
    for package in ("origin", "pool", "db"):
        compileall.compile_dir(REPO / package, quiet=1)


def measure(runs: int) -> Results:
    """The cluster, the source's clips, then ``runs`` rounds of every measurement."""
    _byte_compile()
    source = ensure_source(find_ffmpeg(None))
    results = Results(runs=runs)
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(workspace("origin-bench-cold-start-"))
        home = work / "home"
        env = stack.enter_context(private_cluster(home))
        # No store: registering queues no warm jobs, which an inline worker would run.
        clips = add_source({**env, "ORIGIN_CLIP_STORE": "none"}, source, "--cuts", CUTS)
        bench = Bench(work, home, database_url(home), [c["url"] for c in clips[1:3]])
        for i in range(runs):
            print(f"round {i + 1}/{runs} …", file=sys.stderr)
            healthz, readyz = bench.probes(f"probes-{i}")
            results.healthz_s.append(healthz)
            results.readyz_s.append(readyz)
            healthz, readyz = bench.probes(f"inline-{i}", ORIGIN_WORKER="inline")
            results.inline_healthz_s.append(healthz)
            results.inline_readyz_s.append(readyz)
            results.clips.append(bench.clips_run(f"clips-{i}"))
            results.private_healthz_s.append(bench.private_cluster_healthz(f"private-{i}"))
            for name, statement in IMPORTS.items():
                results.imports.setdefault(name, []).append(_time_import(statement))
        results.busiest = bench.busiest
    if results.busiest >= QUIET_BUSY:
        print(f"warning: the CPUs were {results.busiest:.0%} busy before a run", file=sys.stderr)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its section of docs/benchmarks.md (or ``--output``)."""
    return section_main(
        argv, prog="python -m bench.cold_start", description=__doc__,
        repeats=("runs", 7, "fresh servers per row"),
        measure=measure, render=render, begin=BEGIN, end=END,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
