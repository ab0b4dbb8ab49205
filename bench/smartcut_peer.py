"""The open-source peer: the ``smartcut`` CLI against the origin's smart cut, same clips.

``.venv/bin/python -m bench.smartcut_peer [--runs N] [--output PATH]`` (``make
bench``) installs ``smartcut`` into a venv of its own on first use
(bench/runner/smartcut_env.py), starts one ``origin serve`` (smart cut, no
clip store) on the private cluster of a throwaway ORIGIN_HOME, and for the
latency benchmark's two clips of the 1080p source times, alternating which
goes first, after one unrecorded run each: a cold GET of the clip from the
origin (its cached file deleted first; a fresh connection, as in the
latency tables), and ``smartcut SOURCE OUT --keep START,END`` as a
subprocess, spawn to exit. Each one's output is then checked the same way
(bench/runner/output_check.py): frames decoded against the source frames in
``[start, end)``, the first frame's PSNR against the source frame at
``start`` and the last frame's against the source's last before ``end``.
A contender that cannot be installed or fails on a clip keeps its row,
with the error. It replaces its own section of docs/benchmarks.md (or
``PATH``), between ``<!-- smartcut-peer -->`` and ``<!-- /smartcut-peer
-->``. About two minutes on 2 CPUs with the default 5 runs.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

from bench.report.page import section_main
from bench.report.smartcut_peer import BEGIN, END, ORIGIN, SMARTCUT, Results, Row, render
from bench.runner.origin import Origin, private_cluster, serve, workspace
from bench.runner.output_check import (
    SourceFrames,
    decoded_frames,
    frame_psnr,
    source_frames,
)
from bench.runner.smartcut_env import VERSION, SmartcutUnavailable, ensure_smartcut
from bench.runner.source import ensure_source
from bench.runner.stage import Clip, register
from pool.ffmpeg_binary import find_ffmpeg


class Contender:
    """One way to cut a clip: a timed run that leaves the clip's file at :attr:`output`."""

    def __init__(self, run: Callable[[], float], output: Callable[[], Path]) -> None:
        self.run = run  # one cut, timed: seconds
        self.output = output  # the file the checks read, once the runs are done


@contextlib.contextmanager
def smart_origin(source: Path) -> Iterator[tuple[Origin, Path, tuple[Clip, ...]]]:
    """One smart-cut ``origin serve`` with ``source`` registered: it, a scratch dir, its clips."""
    with workspace("origin-peer-") as work:
        home = work / "home"
        with private_cluster(home) as env:
            clips = register(env, source)
            with serve(
                home, work, "smart", "smart", ORIGIN_STREAM_MODE="file",
                ORIGIN_PRECISION="smart", ORIGIN_CLIP_STORE="none",
            ) as origin:  # fmt: skip
                yield origin, work, clips


def origin_contender(origin: Origin, clip: Clip, output: Path) -> Contender:
    """Cold GETs of ``clip``; its file downloaded once more (from the cache) for the checks."""
    timer = origin.cold(clip.url, clip.request.clip_id)

    def download() -> Path:
        with urllib.request.urlopen(f"http://127.0.0.1:{origin.port}{clip.url}") as answer:
            output.write_bytes(answer.read())
        return output

    return Contender(lambda: timer().total_s, download)


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else "(no output)"


def smartcut_contender(cli: Path, source: Path, clip: Clip, output: Path) -> Contender:
    """``smartcut SOURCE OUTPUT --keep START,END``, spawn to exit; the last run's file."""
    argv = [str(cli), str(source), str(output), "--keep", f"{clip.span.start},{clip.span.end}"]

    def run() -> float:
        output.unlink(missing_ok=True)
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        if result.returncode != 0 or not output.exists():
            raise RuntimeError(f"smartcut exited {result.returncode}: {_last_line(result)}")
        return seconds

    return Contender(run, lambda: output)


def check(ffmpeg: str, source: Path, frames: SourceFrames, row: Row, output: Path) -> None:
    """Fill ``row``'s frame count, first-frame PSNR and size from ``output``."""
    row.frames = decoded_frames(ffmpeg, output)
    row.psnr_db = frame_psnr(ffmpeg, output, source, frames.first_s)
    row.last_psnr_db = frame_psnr(ffmpeg, output, source, frames.last_s, row.frames - 1)
    row.size = output.stat().st_size


def _time_both(contenders: dict[str, Contender], rows: dict[str, Row], runs: int) -> None:
    names = list(contenders)
    for i in range(runs + 1):  # the first run is a warm-up, not recorded
        for name in names[i % 2 :] + names[: i % 2]:  # alternate which goes first
            row = rows[name]
            if row.error is not None:
                continue
            try:
                seconds = contenders[name].run()
            except (RuntimeError, OSError) as exc:
                row.error = str(exc)
                continue
            if i:
                row.seconds.append(seconds)


def _start_up(cli: Path, runs: int) -> list[float]:
    """Seconds of ``smartcut --version``, spawn to exit: Python and PyAV starting."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(cli), "--version"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def measure(runs: int) -> Results:
    """Install smartcut, start the origin, time both on every clip ``runs`` times, check them."""
    ffmpeg = find_ffmpeg(None)
    source = ensure_source(ffmpeg)
    results = Results({}, {}, {}, [], runs, VERSION)
    cli: Path | None = None
    try:
        cli = ensure_smartcut()
        results.start_up_s = _start_up(cli, runs)
    except SmartcutUnavailable as exc:
        results.install_error = str(exc)
    with smart_origin(source) as (origin, work, clips):
        for clip in clips:
            label = clip.span.label
            frames = source_frames(source, Fraction(clip.span.start), Fraction(clip.span.end))
            results.expected[label] = frames.count
            rows = {ORIGIN: Row(), SMARTCUT: Row(error=results.install_error)}
            ours = work / "origin.mp4"
            contenders = {ORIGIN: origin_contender(origin, clip, ours)}
            if cli is not None:
                contenders[SMARTCUT] = smartcut_contender(cli, source, clip, work / "smartcut.mp4")
            _time_both(contenders, rows, runs)
            for name, row in rows.items():
                if row.error is None:  # then it ran, so it is among the contenders
                    check(ffmpeg, source, frames, row, contenders[name].output())
                results.rows[(label, name)] = row
            if rows[ORIGIN].error is None and frames.before_s is not None:
                # What a first frame one frame early scores: the PSNRs' yardstick.
                results.wrong_db[label] = frame_psnr(ffmpeg, ours, source, frames.before_s)
            print(f"{label} clip done", file=sys.stderr)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its section of docs/benchmarks.md (or ``--output``)."""
    return section_main(
        argv, prog="python -m bench.smartcut_peer", description=__doc__,
        repeats=("runs", 5, "timed runs per contender and clip"),
        measure=measure, render=render, begin=BEGIN, end=END,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
