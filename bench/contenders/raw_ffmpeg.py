"""Raw ffmpeg: the origin's own argv for the clip, run as a subprocess to a file.

The cold baseline: what the origin adds to ffmpeg (HTTP, exact edit lists,
the rename into its cache) is its cold total minus this one.
"""

from __future__ import annotations

from functools import partial

from bench.contenders.base import Contender, Timer
from bench.report.page import dotted
from bench.runner.stage import Clip, Stage
from bench.runner.timing import run_ffmpeg
from pool.argv import build_clip_argv


def index_first(argv: list[str]) -> list[str]:
    """``argv`` writing an MP4 whose index comes first, as plain ffmpeg would."""
    at = argv.index("-f")
    return [*argv[:at], "-movflags", "+faststart", *argv[at:]]


def timer(stage: Stage, clip: Clip) -> Timer:
    """The edit-list server's argv for ``clip``, with ``+faststart``, to a scratch file."""
    output = stage.work / "raw.mp4"
    argv = index_first(build_clip_argv(stage.ffmpeg, clip.request, "file:" + str(output)))
    return partial(run_ffmpeg, argv, output)


CONTENDER = Contender(
    "raw ffmpeg (the origin's argv + `+faststart`, to a file)",
    f'`{dotted(build_clip_argv)}` for a `mode="file"` request, with '
    "`-movflags +faststart` so that ffmpeg alone writes what the origin serves, an MP4 "
    "with its index first (the origin's own argv leaves that pass to "
    "`trim_presentation`, which writes the exact index first in its one copy), run as "
    "a subprocess end to end. The cold baseline: no HTTP, no edit lists, no rename.",
    timer,
)
