"""The benchmark's clip checks on real files: expected frames, decoded frames, first-frame PSNR."""

from __future__ import annotations

import math
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from bench.runner.output_check import decoded_frames, frame_psnr, source_frames
from pool.sources.sample import make_sample

START, END = Fraction(3, 2), Fraction(5, 2)  # mid-GOP: keyframes every second


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> Path:
    path = tmp_path_factory.mktemp("output-check") / "source.mp4"
    return make_sample(ffmpeg, path, duration_s=4, size="160x120", keyframe_every_s=1.0)


def _reencoded(ffmpeg: str, source: Path, output: Path) -> Path:
    """[START, END) of ``source``, re-encoded: exact frames, not identical pixels."""
    subprocess.run(
        [ffmpeg, "-v", "error", "-ss", str(float(START)), "-i", str(source),
         "-t", str(float(END - START)), "-an", "-c:v", "libx264", "-crf", "18", "-y", str(output)],
        check=True, capture_output=True,
    )  # fmt: skip
    return output


def test_source_frames_counts_the_frames_presented_in_the_span(source: Path) -> None:
    frames = source_frames(source, START, END)
    assert frames.count == 30
    assert frames.first_s == START
    assert frames.last_s == END - Fraction(1, 30)
    assert frames.before_s == START - Fraction(1, 30)


def test_a_clip_decodes_its_frames_and_its_ends_match_only_the_span_ends(
    source: Path, ffmpeg: str, tmp_path: Path
) -> None:
    clip = _reencoded(ffmpeg, source, tmp_path / "clip.mp4")
    frames = source_frames(source, START, END)
    assert decoded_frames(ffmpeg, clip) == frames.count
    right = frame_psnr(ffmpeg, clip, source, frames.first_s)
    assert frames.before_s is not None
    one_early = frame_psnr(ffmpeg, clip, source, frames.before_s)
    assert right > 40
    assert one_early < right - 10
    last = frames.count - 1
    assert frame_psnr(ffmpeg, clip, source, frames.last_s, last) > 40
    assert frame_psnr(ffmpeg, clip, source, frames.last_s, last - 1) < right - 10


def test_the_source_against_itself_is_identical(source: Path, ffmpeg: str) -> None:
    assert math.isinf(frame_psnr(ffmpeg, source, source, Fraction(0)))
