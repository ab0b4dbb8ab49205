"""The benchmarks' source, a generated 1080p MP4, and the two clips cut from it."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pool.sources.sample import make_sample

REPO = Path(__file__).resolve().parent.parent.parent

# 5 minutes of 1080p30 is what NOTES.md measured on; x264 veryfast makes it in
# about 2 min on 2 cores (measured: 129 s), once: the file is cached and reused.
SOURCE_SECONDS = 300
SOURCE_SIZE = "1920x1080"
SOURCE_FPS = 30
KEYFRAME_EVERY_S = 2.0
SOURCE = REPO / ".origin" / "bench" / f"source-1080p{SOURCE_FPS}-{SOURCE_SECONDS}s.mp4"

# Long GOPs at 60 fps (issue 16): up to 240 frames between keyframes, so a
# mid-GOP cut decodes and re-encodes many more frames than the 30 fps source's.
# 90 s keeps its generation near two minutes on 2 cores.
LONG_GOP_SECONDS = 90
LONG_GOP_FPS = 60
LONG_GOP_EVERY_S = 4.0
LONG_GOP_SOURCE = (
    REPO
    / ".origin"
    / "bench"
    / f"source-1080p{LONG_GOP_FPS}-gop{LONG_GOP_EVERY_S:g}s-{LONG_GOP_SECONDS}s.mp4"
)


@dataclass(frozen=True)
class Span:
    """One clip to cut, ``[start, end)`` on the source's timeline; both start mid-GOP."""

    label: str
    start: Decimal
    end: Decimal


SPANS = (
    Span("10 s", Decimal("123.4"), Decimal("133.4")),
    Span("60 s", Decimal("63.4"), Decimal("123.4")),
)


def ensure_source(ffmpeg: str) -> Path:
    """Generate the source once; later runs reuse the cached file."""
    return ensure_generated(
        ffmpeg, SOURCE, SOURCE_SECONDS, SOURCE_SIZE, SOURCE_FPS, KEYFRAME_EVERY_S
    )


def ensure_long_gop_source(ffmpeg: str) -> Path:
    """Generate the 1080p60 / 4 s GOP source once; later runs reuse the cached file."""
    return ensure_generated(
        ffmpeg, LONG_GOP_SOURCE, LONG_GOP_SECONDS, SOURCE_SIZE, LONG_GOP_FPS, LONG_GOP_EVERY_S
    )


def ensure_generated(
    ffmpeg: str, path: Path, seconds: int, size: str, fps: int, keyframe_every_s: float
) -> Path:
    """Generate a bench source (``make_sample``, B-frames on) at ``path`` once; reuse it after."""
    if not path.exists():
        print(f"generating {path} ({seconds} s of {size}) …", file=sys.stderr)
        started = time.monotonic()
        make_sample(
            ffmpeg,
            path,
            duration_s=seconds,
            size=size,
            fps=fps,
            keyframe_every_s=keyframe_every_s,
            bframes=True,
        )
        print(f"  took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return path
