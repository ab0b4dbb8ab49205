"""Benchmark: cold smart cuts of a long-GOP source, and where their time goes (issue 16).

``.venv/bin/python -m bench.long_gop [--clips N] [--output PATH]`` (``make
bench``) cuts ``N`` random 10 s clips that start mid-GOP from a 1080p60
source with a keyframe every 4 s (bench/runner/source.py: generated once,
about two minutes, then cached under .origin/bench/). Each clip is cut cold
in this process with the pool's own steps, in the order
``Cutter._smart_cut`` runs them, once per x264 setting of :data:`SETTINGS`
(swapped into ``encode_argv``): before (:data:`PREVIOUS_ENCODER`), each
change added one at a time, and after (``pool.cutting.smart_cut.ENCODER``),
in an order that rotates from clip to clip. The ffmpeg run is then timed
again decoding only (see bench/report/long_gop.py), and, for clips with a
head and a tail, as two runs one after the other. It replaces its own
section of docs/benchmarks.md (or ``PATH``), between ``<!-- long-gop -->``
and ``<!-- /long-gop -->``; about two minutes on 2 CPUs once the source
exists.
"""

from __future__ import annotations

import itertools
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from bench.report.long_gop import AFTER_LABEL, BEFORE_LABEL, BEGIN, END, Clip, Cut, Results, render
from bench.report.page import section_main
from bench.runner.source import (
    LONG_GOP_EVERY_S,
    LONG_GOP_FPS,
    LONG_GOP_SECONDS,
    LONG_GOP_SOURCE,
    REPO,
    SOURCE_SIZE,
    ensure_long_gop_source,
)
from bench.saturation.procfs import cpu_times
from pool.cache import replace_into_place
from pool.cutting.smart_cut import ENCODER, SmartCut, SmartCutReport, prepare
from pool.ffmpeg_binary import find_ffmpeg
from pool.mp4.boxes import file_reader
from pool.mp4.index import read_movie
from pool.request import ClipRequest

#: ``pool.cutting.smart_cut.ENCODER`` at commit ``bench.report.long_gop.BEFORE``.
PREVIOUS_ENCODER = (
    "-c:v", "libx264", "-preset", "superfast", "-crf", "16", "-bf", "0", "-threads", "2",
)  # fmt: skip
#: The x264 settings each clip is cut with: the label the report gives them, the options.
SETTINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (BEFORE_LABEL, PREVIOUS_ENCODER),
    ("+ `-subq 0`", (*PREVIOUS_ENCODER[:-2], "-subq", "0", *PREVIOUS_ENCODER[-2:])),
    ("+ `-coder cavlc`",
     (*PREVIOUS_ENCODER[:-2], "-subq", "0", "-coder", "cavlc", *PREVIOUS_ENCODER[-2:])),
    ("+ `-aq-mode 0`, crf 18",
     ("-c:v", "libx264", "-preset", "superfast", "-crf", "18", "-bf", "0",
      "-subq", "0", "-coder", "cavlc", "-aq-mode", "0", "-threads", "2")),
    (AFTER_LABEL, ENCODER),
)  # fmt: skip
CLIP_S = 10
SEED = 16  # the number: any fixed seed gives the same clips every run
#: A start at least this far from a keyframe (s): mid-GOP, with a head to re-encode.
MIN_FROM_KEYFRAME = Decimal("0.05")


def clip_starts(count: int) -> list[Decimal]:
    """``count`` seeded random starts (ms) of clips that lie inside the source and start mid-GOP."""
    rng = random.Random(SEED)
    gop = Decimal(str(LONG_GOP_EVERY_S))
    last_ms = (LONG_GOP_SECONDS - CLIP_S - 1) * 1000
    starts: list[Decimal] = []
    while len(starts) < count:
        start = Decimal(rng.randrange(last_ms)) / 1000
        if MIN_FROM_KEYFRAME <= start % gop <= gop - MIN_FROM_KEYFRAME:
            starts.append(start)
    return starts


# -- the encode run, taken apart ---------------------------------------------
# SmartCut.encode_argv is: global options, then per segment an input
# ("-threads 1 -noautorotate -f mp4 -i FILE"), then per segment an output chain
# ("-map N:v:0 -vf … -frames:v K <encoder options> … FILE").


def _split(argv: Sequence[str]) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """``encode_argv`` as (global options, inputs, output chains), in segment order."""
    inputs_at = [i - 2 for i, a in enumerate(argv) if a == "-noautorotate"]
    if any(argv[i : i + 2] != ["-threads", "1"] for i in inputs_at):
        raise ValueError(f"not an encode_argv: {argv}")
    chains_at = [i for i, a in enumerate(argv) if a == "-map"]
    if not inputs_at or len(inputs_at) != len(chains_at):
        raise ValueError(f"not an encode_argv: {argv}")
    inputs = [list(argv[a:b]) for a, b in itertools.pairwise([*inputs_at, chains_at[0]])]
    chains = [list(argv[a:b]) for a, b in itertools.pairwise([*chains_at, len(argv)])]
    return list(argv[: inputs_at[0]]), inputs, chains


def decode_only(argv: Sequence[str]) -> list[str]:
    """The same run with every chain's encoder and file replaced by the null muxer."""
    head, inputs, chains = _split(argv)
    kept = [chain[: chain.index("-frames:v") + 2] for chain in chains]  # map, trim, count
    return (
        head + [a for i in inputs for a in i] + [a for c in kept for a in (*c, "-f", "null", "-")]
    )


def one_segment(argv: Sequence[str], n: int) -> list[str]:
    """The run that re-encodes segment ``n`` alone."""
    head, inputs, chains = _split(argv)
    chain = chains[n]
    return head + inputs[n] + ["-map", "0:v:0", *chain[2:]]


def with_encoder(argv: Sequence[str], encoder: Sequence[str]) -> list[str]:
    """``argv`` with each chain's ENCODER options (today's) replaced by ``encoder``."""
    head, inputs, chains = _split(argv)
    size = len(ENCODER)
    out = head + [a for i in inputs for a in i]
    for chain in chains:
        at = next((i for i in range(len(chain)) if tuple(chain[i : i + size]) == ENCODER), None)
        if at is None:
            raise ValueError(f"a chain without today's ENCODER options: {chain}")
        out += [*chain[:at], *encoder, *chain[at + size :]]
    return out


# -- timing ------------------------------------------------------------------


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(argv: Sequence[str]) -> tuple[float, float]:
    """Run ffmpeg; its wall time and its CPU time (user + sys), in seconds."""
    cpu, started = _children_cpu_s(), time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return time.perf_counter() - started, _children_cpu_s() - cpu


def _finish(
    cut: SmartCut, argv: Sequence[str], prepare_s: float, work: Path
) -> tuple[Cut, SmartCutReport]:
    """Run ``argv`` as the cut's encode run, then assemble and commit as the pool does."""
    run_s, run_cpu_s = run_timed(argv)
    encoded = sum(Path(chain[-1].removeprefix("file:")).stat().st_size for chain in _split(argv)[2])
    temp, final = work / "clip.tmp", work / "clip.mp4"
    started = time.perf_counter()
    report = cut.assemble(temp)
    assemble_s = time.perf_counter() - started
    started = time.perf_counter()
    replace_into_place(temp, final)
    commit_s = time.perf_counter() - started
    final.unlink()
    return Cut(prepare_s, run_s, run_cpu_s, assemble_s, commit_s, encoded), report


def _decoded_samples(argv: Sequence[str]) -> int:
    """Samples in the run's decoder inputs: what ffmpeg decodes."""
    _, inputs, _ = _split(argv)
    paths = [Path(i[-1].removeprefix("file:")) for i in inputs]
    tracks = [read_movie(*file_reader(path)).first(b"vide") for path in paths]
    return sum(len(track.samples) for track in tracks if track is not None)


def _request(source: Path, start: Decimal) -> ClipRequest:
    return ClipRequest(
        clip_id=1, version=1, source_input=f"file:{source}", source_identity="bench",
        start=start, end=start + CLIP_S, mode="file", precision="smart",
    )  # fmt: skip


def _prepare(ffmpeg: str, source: Path, start: Decimal, work: Path) -> tuple[SmartCut, float]:
    """``prepare`` with its work files in ``work`` (emptied first), and its seconds."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    names = itertools.count()

    def work_file() -> Path:
        path = work / f"{next(names)}.tmp"
        path.touch(exist_ok=False)
        return path

    started = time.perf_counter()
    cut = prepare(ffmpeg, _request(source, start), work_file)
    return cut, time.perf_counter() - started


def cut_clip(ffmpeg: str, source: Path, start: Decimal, work: Path, rotate: int) -> Clip:
    """Cut the clip at ``start`` with every setting (from the ``rotate``-th on), then the
    decode-only run and the head and tail apart."""
    cut, prepare_s = _prepare(ffmpeg, source, start, work)
    try:
        argv = cut.encode_argv
        if argv is None:
            raise RuntimeError(f"the clip at {start} needs no re-encoding: not mid-GOP")
        cuts = {}
        for label, encoder in SETTINGS[rotate:] + SETTINGS[:rotate]:
            cuts[label], report = _finish(cut, with_encoder(argv, encoder), prepare_s, work)
        decode_s, decode_cpu_s = run_timed(decode_only(argv))
        segments = len(_split(argv)[1])
        apart_s = (
            sum(run_timed(one_segment(argv, n))[0] for n in range(segments))
            if segments == 2
            else None
        )
        return Clip(
            start=start,
            decoded=_decoded_samples(argv),
            # Every setting re-encodes the same frames: the last cut's report says which.
            reencoded=report.frames - report.copied_frames,
            decode_s=decode_s,
            decode_cpu_s=decode_cpu_s,
            cuts=cuts,
            apart_s=apart_s,
        )
    finally:
        cut.close()


def _busy_cpu_s(before: Sequence[int], after: Sequence[int]) -> float:
    """CPU seconds the whole machine spent busy between two :func:`cpu_times`."""
    busy = sum(after) - sum(before) - (after[3] - before[3]) - (after[4] - before[4])
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + _children_cpu_s()


def measure(count: int) -> Results:
    ffmpeg = find_ffmpeg(None)
    source = ensure_long_gop_source(ffmpeg)
    starts = clip_starts(count)
    with tempfile.TemporaryDirectory(dir=REPO / ".origin") as scratch:
        work = Path(scratch) / "work"
        # The pool keeps a source's index in memory (INDEXES): build it first.
        _prepare(ffmpeg, source, starts[0], work)[0].close()
        machine, own, started = cpu_times(), _own_cpu_s(), time.monotonic()
        clips = [
            cut_clip(ffmpeg, source, start, work, rotate=n % len(SETTINGS))
            for n, start in enumerate(starts)
        ]
        others = _busy_cpu_s(machine, cpu_times()) - (_own_cpu_s() - own)
        others_share = others / ((time.monotonic() - started) * (os.cpu_count() or 1))
    return Results(
        clips=clips,
        length_s=CLIP_S,
        source=f"`{LONG_GOP_SOURCE.name}`, {LONG_GOP_SECONDS} s of {SOURCE_SIZE} "
        f"{LONG_GOP_FPS} fps, a keyframe every {LONG_GOP_EVERY_S:g} s, x264 veryfast with "
        "B-frames (`pool.sources.sample.make_sample`)",
        settings={label: " ".join(encoder) for label, encoder in SETTINGS},
        others_busy=max(0.0, others_share),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its section of docs/benchmarks.md (or ``--output``)."""
    return section_main(
        argv, prog="python -m bench.long_gop", description=__doc__,
        repeats=("clips", 15, "random mid-GOP clips, each cut before and after"),
        measure=measure, render=render, begin=BEGIN, end=END,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
