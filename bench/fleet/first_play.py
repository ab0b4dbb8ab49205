"""First play after an edit: one server warming in the background, one not, side by side.

Both servers share the private cluster. The warming one runs the job worker
in process (``ORIGIN_WORKER=inline``) with the default directory store; its
sources are registered with the store on, so every clip is warmed before
the trials start, as in steady state, and an edit's neighbours are already
stored. The other has no worker and no store (``ORIGIN_CLIP_STORE=none``),
so its edits queue nothing: each first play is cut on demand.

A trial edits one pair (move-cut, :mod:`bench.fleet.layout`), waits 0 or
:data:`PAUSE_S`, then GETs B's new version on a fresh connection and times
the whole response. Cells are interleaved and the servers take turns going
first, so drift on this shared machine spreads over all of them.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bench.fleet.layout import Pair, by_length, plan, register
from bench.runner.api import move_cut
from bench.runner.metrics import Samples, delta, scrape, wait_for_total
from bench.runner.origin import Origin, origin_env, serve
from bench.runner.timing import fetch
from bench.saturation.procfs import QUIET_BUSY, wait_quiet

LENGTHS = (Decimal(10), Decimal(60))
PAUSE_S = 2.0  # a reviewer's reaction time between the edit and pressing play
WAITS = (0.0, PAUSE_S)
CACHE_OUTCOMES = ("hit", "store", "coalesced", "miss", "uncached")
# Bounds on waiting for the warming server's jobs: all of a registration's,
# then each trial's (a handful of cuts; more means something is stuck).
REGISTRATION_WARM_TIMEOUT_S = 180.0
TRIAL_WARM_TIMEOUT_S = 30.0
WARM_JOBS = "origin_jobs_total"
TTFB_COUNT = "origin_ttfb_seconds_count"  # clip answers, labelled by cache outcome


@dataclass(frozen=True)
class Cell:
    """One row half of the table: clip length, pause before the GET, warming or not."""

    length: Decimal
    wait_s: float
    warming: bool


@dataclass(frozen=True)
class Trial:
    """One timed first play: seconds to the last byte, and how the server says it answered."""

    seconds: float
    cache: str  # origin_ttfb_seconds' label: hit, coalesced, miss, …
    cuts: float  # clips the server cut for the trial: B, and with warming A too


@dataclass
class Side:
    """One server under test and the pairs it still has for trials."""

    origin: Origin
    warming: bool
    pairs: dict[Decimal, list[Pair]]
    warm_jobs: int = 0  # jobs deferred so far (registration, edits): the worker's goal
    late: int = 0  # trials after which its jobs were not done within the bound


@dataclass
class FirstPlay:
    """What the trials measured, per cell, and what kept them from being clean."""

    trials: dict[Cell, list[Trial]]
    wanted: int  # trials asked for per cell
    warmed_before_s: float | None  # the registrations' warming: seconds it ran on after them
    late: int  # trials whose warm jobs overran TRIAL_WARM_TIMEOUT_S


def _answered(before: Samples, after: Samples) -> str:
    """The one cache outcome whose count grew between two scrapes (``?`` if not one)."""
    grew = [k for k in CACHE_OUTCOMES if delta(before, after, TTFB_COUNT, cache=k) > 0]
    return grew[0] if len(grew) == 1 else "?"


def trial(side: Side, pair: Pair, wait_s: float) -> Trial:
    """Edit ``pair``, wait ``wait_s``, GET B's new version; then let the server's jobs finish."""
    port = side.origin.port
    before = scrape(port)
    url = str(move_cut(port, pair.a, pair.moved_to)[pair.b]["url"])
    if wait_s:
        time.sleep(wait_s)
    sample = fetch(port, url)
    answered = _answered(before, scrape(port))
    if side.warming:
        # The next trial starts only once this one's warm jobs (A's version,
        # and the neighbours, which are skipped) have run: their cuts would
        # otherwise land in it, whichever server it times.
        side.warm_jobs += pair.warm_jobs
        waited = wait_for_total(port, WARM_JOBS, side.warm_jobs, TRIAL_WARM_TIMEOUT_S, queue="warm")
        side.late += waited is None
    cuts = delta(before, scrape(port), "origin_clip_cuts_total")
    return Trial(sample.total_s, answered, cuts)


def _side(
    stack: contextlib.ExitStack, home: Path, work: Path, source: Path, warming: bool, trials: int
) -> Side:
    """Start one server (stopped with ``stack``) and register the pairs of its trials."""
    if warming:
        settings = {"ORIGIN_WORKER": "inline"}  # and the default store, $ORIGIN_HOME/store
        env = origin_env(home)  # the CLI defers warm jobs when it sees a store
    else:
        settings = {"ORIGIN_WORKER": "off", "ORIGIN_CLIP_STORE": "none"}
        env = origin_env(home, ORIGIN_CLIP_STORE="none")
    name = "warming-on" if warming else "warming-off"
    origin = stack.enter_context(serve(home, work, name, "smart", **settings))
    lengths = [n for n in LENGTHS for _ in range(len(WAITS) * trials)]
    pairs, clips = register(env, source, work / "sources", name, plan(lengths))
    print(f"{name}: {len(pairs)} pairs on {clips} clips", file=sys.stderr)
    # With warming, registration deferred a warm job per clip.
    return Side(origin, warming, by_length(pairs), warm_jobs=clips if warming else 0)


def measure(
    stack: contextlib.ExitStack, home: Path, work: Path, source: Path, trials: int
) -> FirstPlay:
    """Start both servers (stopped with ``stack``), register their pairs, run every cell."""
    # The warming server starts first: its worker warms while the other registers.
    sides = [_side(stack, home, work, source, warming, trials) for warming in (True, False)]
    on = sides[0]
    warmed = wait_for_total(
        on.origin.port, WARM_JOBS, on.warm_jobs, REGISTRATION_WARM_TIMEOUT_S, queue="warm"
    )
    busy = wait_quiet()
    if busy >= QUIET_BUSY:
        print(f"warning: the CPUs are {busy:.0%} busy before the trials", file=sys.stderr)
    results: dict[Cell, list[Trial]] = {}
    for n in range(trials):
        for length in LENGTHS:
            for wait_s in WAITS:
                for side in sides if n % 2 == 0 else sides[::-1]:
                    queue = side.pairs.get(length, [])
                    if not queue:
                        continue  # the layout ran short: the report says the cell has fewer
                    cell = Cell(length, wait_s, side.warming)
                    results.setdefault(cell, []).append(trial(side, queue.pop(0), wait_s))
        print(f"first play: round {n + 1}/{trials}", file=sys.stderr)
    return FirstPlay(results, trials, warmed, sum(s.late for s in sides))
