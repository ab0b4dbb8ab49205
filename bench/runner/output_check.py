"""What a cut clip shows, against its source: frame count, first and last frames' PSNR.

The same checks for every contender, whatever made the file: ffmpeg decodes
it as a player would (edit lists honoured) and the source's side comes from
its MP4 index, exactly (:mod:`pool.mp4.index`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from pool.mp4.boxes import file_reader
from pool.mp4.index import read_movie


@dataclass(frozen=True)
class SourceFrames:
    """The source frames a clip ``[start, end)`` should show."""

    count: int  # frames presented in [start, end)
    first_s: Fraction  # the presentation time of the first of them
    last_s: Fraction  # that of the last of them
    before_s: Fraction | None  # that of the frame just before the first (a wrong first frame)


def source_frames(source: Path, start: Fraction, end: Fraction) -> SourceFrames:
    """The frames of ``source``'s video presented in ``[start, end)``, from its index.

    What the smart cut itself expects: every frame whose exact presentation
    time (edit list applied) is in the range, no more.
    """
    video = read_movie(*file_reader(source)).first(b"vide")
    if video is None:
        raise ValueError(f"{source}: no video track")
    times = sorted(Fraction(p, video.timescale) for p in video.samples.pts if p >= 0)
    inside = [t for t in times if start <= t < end]
    if not inside:
        raise ValueError(f"{source}: no frame in [{start}, {end})")
    before = [t for t in times if t < start]
    return SourceFrames(len(inside), inside[0], inside[-1], before[-1] if before else None)


def decoded_frames(ffmpeg: str, clip: Path) -> int:
    """How many video frames ffmpeg decodes from ``clip`` (what a player shows)."""
    listing = subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-i", f"file:{clip}", "-map", "0:v:0",
         "-fps_mode", "passthrough", "-f", "framecrc", "-"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return sum(1 for line in listing.splitlines() if line and not line.startswith("#"))


# Frames closer than this to the wanted time count as at it: far below any
# frame interval, far above the rounding of ffmpeg's float ``t``.
_TOLERANCE_S = Fraction(1, 10_000)
# Seek this far before the wanted frame; ffmpeg decodes from the keyframe before.
_SEEK_BEFORE_S = 1


def frame_psnr(ffmpeg: str, clip: Path, source: Path, at: Fraction, frame: int = 0) -> float:
    """PSNR (dB; ``inf`` when identical) of ``clip``'s decoded frame number ``frame`` (0:
    its first) against the source frame presented at ``at`` (ffmpeg's psnr filter,
    average of Y, U, V)."""
    seek = max(Fraction(0), at - _SEEK_BEFORE_S)
    wanted = float(at - _TOLERANCE_S)
    graph = (
        f"[0:v]trim=start_frame={frame}:end_frame={frame + 1},setpts=0[clip];"
        f"[1:v]select='gte(t,{wanted:.6f})',trim=end_frame=1,setpts=0[ref];"
        "[clip][ref]psnr=stats_file=-"
    )
    out = subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-copyts", "-i", f"file:{clip}",
         "-ss", f"{float(seek):.6f}", "-i", f"file:{source}",
         "-lavfi", graph, "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    for line in out.splitlines():
        fields = dict(f.split(":", 1) for f in line.split() if ":" in f)
        if "psnr_avg" in fields:
            return float(fields["psnr_avg"])
    raise RuntimeError(f"no PSNR line from ffmpeg for {clip}:\n{out}")
