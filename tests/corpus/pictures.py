"""Pictures as a viewer sees them: source frames turned upright, compared by nearness."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np

from tests.corpus.matrix import CorpusSource

MAX_WIDTH = 320  # pictures are compared at most this wide


def shown_size(source: CorpusSource) -> tuple[int, int]:
    """The picture's displayed shape (rotation applied), at most MAX_WIDTH wide."""
    width, height = source.frames[0].size
    if source.recipe.rotation in (90, 270):
        width, height = height, width
    scale = min(Fraction(1), Fraction(MAX_WIDTH, width))
    return round(width * scale), round(height * scale)


def source_pictures(
    ffmpeg: str, source: CorpusSource, indices: set[int], size: tuple[int, int]
) -> dict[int, np.ndarray]:
    """The source's frames ``indices`` (presentation order) as a player shows them, RGB."""
    wanted = sorted(indices)
    select = "+".join(f"eq(n\\,{i})" for i in wanted)
    width, height = size
    raw = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(source.path), "-map", "0:v:0",
         "-vf", f"select={select},scale={width}:{height}:flags=bilinear,format=rgb24",
         "-fps_mode", "passthrough", "-f", "rawvideo", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    frames = np.frombuffer(raw, np.uint8).reshape(len(wanted), height, width, 3)
    return dict(zip(wanted, frames, strict=True))


def nearest(picture: np.ndarray, candidates: dict[int, np.ndarray]) -> tuple[int, dict[int, float]]:
    """The candidate frame closest to ``picture``, and every candidate's distance."""
    distances = {
        i: float(np.abs(frame.astype(np.int16) - picture.astype(np.int16)).mean())
        for i, frame in candidates.items()
    }
    return min(distances, key=lambda i: distances[i]), distances


def neighbours(source: CorpusSource, index: int) -> set[int]:
    """Frame ``index`` and the two frames either side of it."""
    return {i for i in range(index - 2, index + 3) if 0 <= i < len(source.frames)}
