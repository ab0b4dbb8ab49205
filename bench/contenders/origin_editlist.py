"""The origin cold, file mode, edit list: every request stream-copies the clip again.

Also its steps after the cache miss, timed one by one in this process
(:func:`cold_steps`), so that their sum can be set against the cold total.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import partial
from pathlib import Path

from bench.contenders.base import Contender, cold_on
from bench.runner.stage import Clip, Stage
from bench.runner.timing import run_ffmpeg
from pool.argv import build_clip_argv
from pool.cache import replace_into_place
from pool.cutting.editlist import trim_presentation

# The steps of a cold file-mode request after its cache miss, in order.
CUT = "ffmpeg, the same argv"
TRIM = "exact edit lists, index first (`trim_presentation`)"
COMMIT = "commit (`replace_into_place`: rename into the cache)"
STEPS = (CUT, TRIM, COMMIT)

CONTENDER = Contender(
    "origin cold, file mode, edit list",
    "`python -m origin serve` with `ORIGIN_PRECISION=editlist` (1 uvicorn "
    "worker, private PostgreSQL cluster), full GET of the clip URL after deleting the "
    "cached file (`ClipCache.lookup` treats a deleted file as a miss), so every request "
    "stream-copies, writes exact edit lists and the index first, renames the file into the "
    "cache and sends it.",
    cold_on(lambda stage: stage.editlist),
)


def cold_steps(
    argv: Sequence[str], temp: Path, final: Path, duration: Fraction
) -> dict[str, float]:
    """Time, in this process, what a cold file-mode request runs between lookup and response.

    The origin's own functions, on the filesystem of its cache, so that their
    sum can be set against the measured cold total. ``argv`` writes ``temp``.
    """
    final.unlink(missing_ok=True)
    timings = {CUT: run_ffmpeg(argv, temp).total_s}
    for name, step in (
        (TRIM, partial(trim_presentation, temp, duration)),
        (COMMIT, partial(replace_into_place, temp, final)),
    ):
        start = time.perf_counter()
        step()
        timings[name] = time.perf_counter() - start
    return timings


def steps_timer(stage: Stage, clip: Clip) -> Callable[[], dict[str, float]]:
    """:func:`cold_steps` of ``clip``, with scratch files in the stage's work directory."""
    temp = stage.work / "step.tmp"
    argv = build_clip_argv(stage.ffmpeg, clip.request, "file:" + str(temp))
    return partial(cold_steps, argv, temp, stage.work / "step.mp4", Fraction(clip.request.duration))
