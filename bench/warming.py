"""Background warming: first play after an edit, and cuts per clip version across a fleet.

``.venv/bin/python -m bench.warming [--trials N] [--output PATH]`` (``make
bench``, after ``bench.responsiveness``) measures, on the benchmark's 1080p
source:

1. the first play of a clip version right after its edit, and 2 s later,
   on a server that warms in the background (``ORIGIN_WORKER=inline``, the
   default directory store) and on one that does not (``ORIGIN_WORKER=off``,
   ``ORIGIN_CLIP_STORE=none``), for 10 s and 60 s clips
   (:mod:`bench.fleet.first_play`);
2. fleet-wide cuts per clip version with two replicas on one store and one
   ``origin worker``, then without the worker, then without the store
   (:mod:`bench.fleet.cuts`).

It replaces its own section of docs/benchmarks.md (or ``PATH``), between
``<!-- warming -->`` and ``<!-- /warming -->``; the text is in
bench/report/warming.py. Every process (the private PostgreSQL cluster of a
throwaway ORIGIN_HOME, up to three origin processes at a time) is stopped in
``finally``; about 3.5 min on 2 CPUs.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

from bench.fleet import cuts, first_play
from bench.report.page import section_main
from bench.report.warming import BEGIN, END, Results, render
from bench.runner.origin import database_url, private_cluster, workspace
from bench.runner.source import ensure_source
from pool.ffmpeg_binary import find_ffmpeg


def measure(trials: int) -> Results:
    """Both parts on one private cluster; the first part's servers stop before the second."""
    source = ensure_source(find_ffmpeg(None))
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(workspace("origin-bench-warming-"))
        home = work / "home"
        stack.enter_context(private_cluster(home))
        with contextlib.ExitStack() as servers:
            first = first_play.measure(servers, home, work, source, trials)
        # The fleet's processes each have a home of their own: they share the
        # cluster the way replicas share a PostgreSQL, through DATABASE_URL.
        fleet = cuts.measure(work, source, database_url(home))
    return Results(first, fleet)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its section of docs/benchmarks.md (or ``--output``)."""
    return section_main(
        argv, prog="python -m bench.warming", description=__doc__,
        repeats=("trials", 10, "first plays per cell"),
        measure=measure, render=render, begin=BEGIN, end=END,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
