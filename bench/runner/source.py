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
    if not SOURCE.exists():
        print(f"generating {SOURCE} ({SOURCE_SECONDS} s of {SOURCE_SIZE}) …", file=sys.stderr)
        started = time.monotonic()
        make_sample(
            ffmpeg,
            SOURCE,
            duration_s=SOURCE_SECONDS,
            size=SOURCE_SIZE,
            fps=SOURCE_FPS,
            keyframe_every_s=KEYFRAME_EVERY_S,
            bframes=True,
        )
        print(f"  took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return SOURCE
