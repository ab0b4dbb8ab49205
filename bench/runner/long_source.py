"""A two-hour source for the registration benchmark: small pictures, a real ``moov``.

What registration costs grows with the index (one entry per sample), not
with the picture: 160x90 keeps the file and its generation small while the
``moov`` is a real two-hour one, 216 000 video samples at 30 fps and the
audio's, written by ffmpeg with the bench source's recipe
(:func:`pool.sources.sample.make_sample`: testsrc2 and a sine, x264
``veryfast`` with B-frames, a keyframe every 2 s, AAC 96 kb/s,
``+faststart``).
"""

from __future__ import annotations

from pathlib import Path

from bench.runner.source import REPO, ensure_generated

LONG_SECONDS = 7200
LONG_SIZE = "160x90"
LONG_FPS = 30
LONG_SOURCE = REPO / ".origin" / "bench" / f"source-{LONG_SIZE}-{LONG_FPS}fps-{LONG_SECONDS}s.mp4"


def ensure_long_source(ffmpeg: str) -> Path:
    """Generate the two-hour source once (about 2 min on 2 CPUs); later runs reuse it."""
    return ensure_generated(ffmpeg, LONG_SOURCE, LONG_SECONDS, LONG_SIZE, LONG_FPS, 2.0)
