"""Cuts per clip version, fleet-wide: two replicas on one store, with a worker or without.

Each setup gets fresh processes (so every counter starts at zero) and a
fresh registration of the source, on the private cluster the first-play
trials used, reached through DATABASE_URL as a fleet's shared PostgreSQL:

1. two ``origin serve`` replicas (``ORIGIN_WORKER=off``, a home and a
   cache each) and, with warming, one ``origin worker`` of its own home,
   all on one ``ORIGIN_CLIP_STORE`` directory (or ``none``);
2. register the source (:data:`EVERY_S`), and with a worker wait until it
   has run every warm job (its ``origin_jobs_total{queue="warm"}``);
3. GET every clip from both replicas, taking turns at going first;
4. move :data:`EDITED` cuts through replica A (each changes two clips),
   wait for the worker again, then GET the new versions from both;
5. sum ``origin_clip_cuts_total`` (and the ffmpeg runs) over the processes.

The setup with a worker runs first: the others leave their warm jobs
queued in PostgreSQL with nobody to run them, and a worker started after
them would take those up.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.fleet.layout import SHIFT_S, linked
from bench.runner.api import move_cut
from bench.runner.metrics import Samples, scrape, total, wait_for_total
from bench.runner.origin import Origin, add_source, origin_env, serve
from bench.runner.timing import fetch
from bench.runner.worker import Worker, worker

EVERY_S = 25  # 12 clips; those starting at an odd multiple of 25 s start mid-GOP
EDITED = (1, 5, 9)  # each moves clip N's end: pairs (1, 2), (5, 6), (9, 10), neighbours apart
WARM_TIMEOUT_S = 120.0
REPLICAS = ("A", "B")
WORKER = "worker"


@dataclass(frozen=True)
class Setup:
    """One way to run the fleet."""

    label: str
    name: str  # for homes, caches, logs
    worker: bool
    store: bool


SETUPS = (
    Setup("warming on: worker + shared store", "fleet-warm", worker=True, store=True),
    Setup("warming off: shared store, no worker", "fleet-store", worker=False, store=True),
    Setup("no store (`ORIGIN_CLIP_STORE=none`)", "fleet-none", worker=False, store=False),
)


@dataclass
class FleetRun:
    """What one setup did: counters per process, and the GETs' times."""

    setup: Setup
    versions: int = 0  # distinct clip versions served
    cuts: dict[str, float] = field(default_factory=dict)  # process → origin_clip_cuts_total
    runs: dict[str, float] = field(default_factory=dict)  # process → ffmpeg runs, outcome ok
    store_hits: dict[str, float] = field(default_factory=dict)  # replica → store copies
    first_s: list[float] = field(default_factory=list)  # each version's GET, replica asked first
    second_s: list[float] = field(default_factory=list)  # … and the other one, right after
    warm_waits: list[float | None] = field(default_factory=list)  # None: the bound ran out


def _warm_jobs(clips: Sequence[Mapping[str, Any]], index: int) -> int:
    """Warm jobs moving clip ``index``'s end defers: it and its successor, their neighbours."""
    return 2 + (index > 0) + (index + 2 < len(clips))


def _both(run: FleetRun, replicas: Sequence[Origin], urls: Sequence[str]) -> None:
    """GET each URL from both replicas, one after the other, the first one in turn."""
    for n, url in enumerate(urls):
        first, second = replicas if n % 2 == 0 else replicas[::-1]
        run.first_s.append(fetch(first.port, url).total_s)
        run.second_s.append(fetch(second.port, url).total_s)
        run.versions += 1


def _record(run: FleetRun, name: str, samples: Samples) -> None:
    run.cuts[name] = total(samples, "origin_clip_cuts_total")
    run.runs[name] = total(samples, "origin_ffmpeg_runs_total", outcome="ok")
    run.store_hits[name] = total(samples, "origin_store_hits_total")


def _wait(run: FleetRun, found: Worker | None, jobs: int) -> None:
    if found is not None:
        waited = wait_for_total(
            found.metrics_port, "origin_jobs_total", jobs, WARM_TIMEOUT_S, queue="warm"
        )
        run.warm_waits.append(waited)


def run_setup(setup: Setup, work: Path, source: Path, dsn: str) -> FleetRun:
    """Start the setup's processes, play every version from both replicas, stop them."""
    run = FleetRun(setup)
    store = str(work / f"{setup.name}-store") if setup.store else "none"
    settings = {"DATABASE_URL": dsn, "ORIGIN_CLIP_STORE": store}
    with contextlib.ExitStack() as stack:
        replicas = []
        for replica in REPLICAS:
            home = work / f"{setup.name}-{replica}"
            home.mkdir()
            replicas.append(stack.enter_context(serve(
                home, work, f"{setup.name}-{replica}", "smart", ORIGIN_WORKER="off", **settings
            )))  # fmt: skip
        found = None
        if setup.worker:
            found = stack.enter_context(worker(work / f"{setup.name}-worker", work, setup.name,
                                               **settings))  # fmt: skip
        cli_home = work / f"{setup.name}-cli"
        cli_home.mkdir()
        copy = linked(source, work / "sources" / f"{setup.name}{source.suffix}")
        clips = add_source(origin_env(cli_home, **settings), copy, "--every", str(EVERY_S))
        clips.sort(key=lambda c: c["start"])
        jobs = len(clips)  # registration deferred one per clip
        _wait(run, found, jobs)
        _both(run, replicas, [c["url"] for c in clips])
        edited: list[str] = []
        for index in EDITED:
            at = Decimal(str(clips[index]["end"])) + SHIFT_S
            changed = move_cut(replicas[0].port, clips[index]["id"], at)
            edited += [str(c["url"]) for c in changed.values()]
            jobs += _warm_jobs(clips, index)
        _wait(run, found, jobs)
        _both(run, replicas, edited)
        for name, origin in zip(REPLICAS, replicas, strict=True):
            _record(run, name, scrape(origin.port))
        if found is not None:
            _record(run, WORKER, scrape(found.metrics_port))
    print(f"{setup.label}: {sum(run.cuts.values()):g} cuts for {run.versions} versions",
          file=sys.stderr)  # fmt: skip
    return run


def measure(work: Path, source: Path, dsn: str) -> list[FleetRun]:
    """Every setup in turn, the one with a worker first (see the module's docstring)."""
    (work / "sources").mkdir(exist_ok=True)
    return [run_setup(setup, work, source, dsn) for setup in SETUPS]
