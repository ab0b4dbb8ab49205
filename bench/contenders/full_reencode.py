"""Full re-encode: the whole clip through x264, exact from its start; what a smart cut avoids.

It runs after every other contender, its runs in a row, and fewer of them
(:data:`RUNS`): see ``bench.clip_latency``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from bench.contenders.base import Contender, Timer
from bench.runner.source import Span
from bench.runner.stage import Clip, Stage
from bench.runner.timing import run_ffmpeg
from pool.request import seconds_text

# What a smart cut saves is set against re-encoding the whole clip at the
# quality its re-encoded frames get (crf 16, pool.cutting.smart_cut.ENCODER),
# with the preset and x264's defaults for B-frames and threads (all CPUs) one
# would use to re-encode a whole clip.
FULL_ENCODER = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "16")
# Seconds per run, so medians settle in a few runs; more would make the
# benchmark last ten minutes.
RUNS = 5


def full_reencode_argv(ffmpeg: str, source: Path, span: Span, output: Path) -> list[str]:
    """Re-encode the whole clip, exact from ``start``: the cost a smart cut avoids."""
    return [
        ffmpeg, "-nostdin", "-v", "error",
        "-ss", seconds_text(span.start), "-i", f"file:{source}",
        "-t", seconds_text(span.end - span.start),
        "-map", "0:v:0", "-map", "0:a:0",
        *FULL_ENCODER, "-c:a", "copy",
        "-movflags", "+faststart", "-f", "mp4", "-y", f"file:{output}",
    ]  # fmt: skip


def timer(stage: Stage, clip: Clip) -> Timer:
    """ffmpeg re-encoding ``clip`` from the source to a scratch file."""
    output = stage.work / "full.mp4"
    return partial(
        run_ffmpeg, full_reencode_argv(stage.ffmpeg, stage.source, clip.span, output), output
    )


CONTENDER = Contender(
    "full re-encode of the clip (ffmpeg, x264 veryfast crf 16)",
    "`ffmpeg -ss <start> -i <source> -t <duration>` with "
    f"`{' '.join(FULL_ENCODER)} -c:a copy -movflags +faststart` to a file, run as a "
    "subprocess end to end: what the smart cut avoids. x264's default threads (all CPUs) "
    "and B-frames; the smart cut's own encoder has `-bf 0 -threads 2`.",
    timer,
)
