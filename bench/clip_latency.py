"""Clip latency: the origin against raw ffmpeg and nginx's mp4 module, in one run.

``.venv/bin/python -m bench.clip_latency [--runs N] [--wrk-seconds S] [--output PATH]``
(``make bench``) cuts a 10 s and a 60 s clip of a generated 1080p source every
way the project cares about (bench/contenders/, a page each) and rewrites
docs/benchmarks.md (or ``PATH``) with the medians, keeping the sections the
other benchmarks wrote. It starts three origin
servers (file mode with the edit list, file mode with the smart cut, pipe
mode), the private PostgreSQL cluster of a throwaway ORIGIN_HOME, and nginx,
all on 127.0.0.1, and stops every one of them in ``finally`` (Ctrl-C and
SIGTERM included). The full re-encode contender (at most 5 runs per clip)
adds about 2.5 min on 2 CPUs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial

from bench.contenders import ROTATION, full_reencode, origin_editlist, origin_smart_cut
from bench.contenders import wrk_throughput as wrk
from bench.report.figures import Results
from bench.report.latency import render
from bench.report.page import add_output_option, write_page
from bench.runner.origin import check_cold
from bench.runner.processes import run_benchmark
from bench.runner.source import SPANS, ensure_source
from bench.runner.stage import Clip, Stage, staged
from pool.ffmpeg_binary import find_ffmpeg
from pool.sources.probe import ProbeResult, probe


def _rotate(stage: Stage, clip: Clip, results: Results) -> None:
    """Time every contender but the full re-encode on ``clip``, ``results.runs`` times."""
    label = clip.span.label
    timers = {c.label: c.timer(stage, clip) for c in ROTATION}
    cold_steps = origin_editlist.steps_timer(stage, clip)
    for timer in timers.values():  # warm-up, not recorded: imports, page cache, pools
        timer()
    names = list(timers)
    for i in range(results.runs):
        # Interleaved, in a rotating order, so drift and noise spread evenly.
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            results.samples.setdefault((label, name), []).append(timers[name]())
        for name, seconds in cold_steps().items():
            results.steps.setdefault((label, name), []).append(seconds)
        smart_timings, report = origin_smart_cut.steps(stage, clip)
        for name, seconds in smart_timings.items():
            results.smart_steps.setdefault((label, name), []).append(seconds)
        results.reencoded_s[label] = report.reencoded_s
        print(f"{label} clip: run {i + 1}/{results.runs}", file=sys.stderr)


def measure(runs: int, wrk_seconds: int) -> tuple[Results, ProbeResult]:
    """Start everything, time every contender ``runs`` times per span, stop everything."""
    ffmpeg = find_ffmpeg(None)
    source = ensure_source(ffmpeg)
    facts = probe(ffmpeg, "file:" + str(source))
    results = Results({}, {}, {}, {}, {}, runs, wrk_seconds)
    with staged(ffmpeg, source) as stage:
        for clip in stage.clips:
            _rotate(stage, clip, results)
            if wrk_seconds > 0 and wrk.available():
                for server, row in wrk.throughput(stage, clip, wrk_seconds).items():
                    results.wrk[(clip.span.label, server)] = row

        # The full re-encodes last, each span's runs in a row: one keeps both
        # CPUs busy for seconds and leaves tens of MB to write back, and in the
        # rotation the same fast contender would follow it nearly every time.
        # No warm-up: the rows above have just read the same spans.
        full = full_reencode.CONTENDER
        for clip in stage.clips:
            timer = full.timer(stage, clip)
            for i in range(min(runs, full_reencode.RUNS)):
                results.samples.setdefault((clip.span.label, full.label), []).append(timer())
                print(f"{clip.span.label} clip, full re-encode: run {i + 1}", file=sys.stderr)

        cold_requests = len(SPANS) * (runs + 1)  # the warm-up pass is cold too
        # The edit-list server gets its cold GETs twice: fresh and kept alive.
        check_cold(stage.editlist.log, 2 * cold_requests, "ffmpeg_run", mode="file", outcome="ok")
        check_cold(stage.smart.log, cold_requests, "smart_cut")
        check_cold(stage.pipe.log, cold_requests, "ffmpeg_run", mode="pipe", outcome="ok")
    return results, facts


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write docs/benchmarks.md (or ``--output``)."""
    parser = argparse.ArgumentParser(prog="python -m bench.clip_latency", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="iterations per clip (default 15)")
    parser.add_argument(
        "--wrk-seconds", type=int, default=10, help="wrk duration per server; 0 skips (default 10)"
    )
    add_output_option(parser, whole_page=True)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return run_benchmark(
        partial(measure, args.runs, args.wrk_seconds),
        lambda measured, elapsed_s: render(*measured, elapsed_s, find_ffmpeg(None)),
        partial(write_page, args.output),
    )


if __name__ == "__main__":
    sys.exit(main())
