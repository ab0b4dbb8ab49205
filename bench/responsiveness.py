"""Responsiveness: the origin's cheap answers while its ffmpeg pool is saturated.

``.venv/bin/python -m bench.responsiveness [--seconds S] [--rate R] [--output PATH]``
(``make bench``, after ``bench.clip_latency``, which rewrites docs/benchmarks.md)
times warm hits, 304s, 302s, 404s and 429s, answers that need a database
lookup at most and no ffmpeg, in three phases: an idle pool, then a pool whose
two slots are kept busy with cold smart cuts of the benchmark's 1080p source,
once with ``ORIGIN_FFMPEG_NICE=0`` (ffmpeg at the server's priority, the old
behaviour) and once with the default (``19``). It replaces its own section of
docs/benchmarks.md (or ``PATH``), between ``<!-- responsiveness -->`` and
``<!-- /responsiveness -->``. Two origin servers and the private PostgreSQL
cluster of a throwaway ORIGIN_HOME, all stopped in ``finally``; about 4 min
(60 s a phase: ~900 samples a kind, so a p99 is not just the 3rd worst).
The pieces are in bench/saturation/, the section's text in
bench/report/responsiveness.py.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from functools import partial

from bench.report.page import add_output_option, write_section
from bench.report.responsiveness import BEGIN, END, Results, render
from bench.runner.origin import add_source, private_cluster, serve, workspace
from bench.runner.processes import run_benchmark
from bench.runner.source import ensure_source
from bench.saturation.clients import client
from bench.saturation.clips import CLIP_EVERY_S, move_cut, pick_clips, probes, workload
from bench.saturation.model import (
    IDLE,
    MAX_PROCESSES,
    NICE_0,
    NICE_DEFAULT,
    NICED,
    QUEUE_TIMEOUT_S,
    Phase,
    Server,
)
from bench.saturation.phase import run_phase
from bench.saturation.procfs import QUIET_BUSY, server_pid, wait_quiet
from pool.ffmpeg_binary import find_ffmpeg


def measure(seconds: float, rate: float) -> Results:
    """Start the cluster and two servers (nice 0 and 10), run the three phases, stop all."""
    source = ensure_source(find_ffmpeg(None))
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(workspace("origin-bench-responsiveness-"))
        home = work / "home"
        env = stack.enter_context(private_cluster(home))
        registered = add_source(env, source, "--every", str(CLIP_EVERY_S))
        clips = pick_clips(registered)
        missing_id = max(c["id"] for c in registered) + 1_000_000
        servers: dict[int, Server] = {}
        redirect_from = ""
        for nice in (0, NICE_DEFAULT):
            origin = stack.enter_context(serve(
                home, work, str(nice), "smart", ORIGIN_STREAM_MODE="file",
                ORIGIN_PRECISION="smart", ORIGIN_MAX_PROCESSES=str(MAX_PROCESSES),
                ORIGIN_QUEUE_TIMEOUT_MS=str(round(QUEUE_TIMEOUT_S * 1000)),
                ORIGIN_FFMPEG_NICE=str(nice),
                # No clip store: the saturating cold cuts must stay cuts.
                ORIGIN_CLIP_STORE="none",
            ))  # fmt: skip
            # One edit, in the database both servers read.
            redirect_from = redirect_from or move_cut(origin.port, clips)
            servers[nice] = Server(
                nice, origin, server_pid(origin.port),
                probes(origin.port, clips, redirect_from, missing_id),
            )  # fmt: skip
        phases: dict[str, Phase] = {}
        for name, nice, saturated in (
            (IDLE, NICE_DEFAULT, False), (NICE_0, 0, True), (NICED, NICE_DEFAULT, True),
        ):  # fmt: skip
            busy = wait_quiet()
            if busy >= QUIET_BUSY:
                print(f"warning: the CPUs are {busy:.0%} busy before {name}", file=sys.stderr)
            print(f"phase: {name} ({seconds:g} s) …", file=sys.stderr)
            server = servers[nice]
            phases[name] = run_phase(
                name.replace(", ", "-").replace("=", ""),  # request ids allow no spaces
                server,
                workload(server.origin, clips) if saturated else None,
                seconds,
                rate,
            )
        with client(servers[NICE_DEFAULT].origin.port) as http:
            warm_bytes = len(http.get(clips.warm).content)
    return Results(phases, warm_bytes, len(clips.load), seconds, rate)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its section of docs/benchmarks.md (or ``--output``)."""
    parser = argparse.ArgumentParser(prog="python -m bench.responsiveness", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60, help="per phase (default 60)")
    parser.add_argument(
        "--rate", type=float, default=15, help="samples a second of each kind (default 15)"
    )
    add_output_option(parser)
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rate <= 0:
        parser.error("--seconds and --rate must be positive")
    return run_benchmark(
        partial(measure, args.seconds, args.rate),
        render,
        lambda section: write_section(args.output, section, BEGIN, END),
    )


if __name__ == "__main__":
    sys.exit(main())
