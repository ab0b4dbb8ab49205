"""The origin cold, smart cut (the default): x264 for the frames before the first keyframe.

Also its steps, in the order ``Cutter._smart_cut`` runs them, timed one by
one in this process (:func:`smart_steps`).
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import subprocess
import time
from pathlib import Path

from bench.contenders.base import Contender, cold_on
from bench.contenders.origin_editlist import COMMIT
from bench.runner.stage import Clip, Stage
from pool.cache import replace_into_place
from pool.cutting.smart_cut import SmartCutReport, prepare
from pool.request import ClipRequest

# The steps of a cold smart-cut request (pool.cuts.Cutter._smart_cut),
# then the same commit as the edit-list cut's.
PREPARE = "`smart_cut.prepare` (index, plan, read the span, decoder inputs)"
ENCODE = "ffmpeg, `encode_argv` (decode + x264 of the re-encoded frames)"
ASSEMBLE = "`assemble` (write the MP4: re-encoded + copied samples)"
STEPS = (PREPARE, ENCODE, ASSEMBLE, COMMIT)


CONTENDER = Contender(
    "origin cold, smart cut (default)",
    "a second file-mode server with `ORIGIN_PRECISION=smart` (the default), "
    "the same database and its own cache directory, cache file deleted before each request, "
    f"so every request runs `{prepare.__module__}` (plan, x264 for the frames before "
    "the first keyframe and a few at the end, copy the rest, write the MP4), renames and "
    "sends.",
    cold_on(lambda stage: stage.smart),
)


def smart_steps(
    ffmpeg: str, request: ClipRequest, work: Path
) -> tuple[dict[str, float], SmartCutReport]:
    """Time, in this process, what a cold smart-cut request runs between lookup and response.

    The origin's own functions in the order ``Cutter._smart_cut`` calls
    them, with its work files in ``work`` (emptied first; the same filesystem
    as the servers' caches).
    """
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    names = itertools.count()

    def work_file() -> Path:
        path = work / f"{next(names)}.tmp"
        path.touch(exist_ok=False)
        return path

    temp, final = work / "clip.tmp", work / "clip.mp4"
    start = time.perf_counter()
    cut = prepare(ffmpeg, request, work_file)
    try:
        timings = {PREPARE: time.perf_counter() - start}
        argv = cut.encode_argv
        start = time.perf_counter()
        if argv is not None:
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
        timings[ENCODE] = time.perf_counter() - start
        start = time.perf_counter()
        report = cut.assemble(temp)
        timings[ASSEMBLE] = time.perf_counter() - start
    finally:
        cut.close()
    start = time.perf_counter()
    replace_into_place(temp, final)
    timings[COMMIT] = time.perf_counter() - start
    return timings, report


def steps(stage: Stage, clip: Clip) -> tuple[dict[str, float], SmartCutReport]:
    """:func:`smart_steps` of ``clip``, in the stage's work directory."""
    request = dataclasses.replace(clip.request, precision="smart")
    return smart_steps(stage.ffmpeg, request, stage.work / "smart-steps")
