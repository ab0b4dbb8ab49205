"""Helpers that look at media the way a player does: decoded frames and their times."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path


def frame_hashes(ffmpeg: str, path: Path, *, select: str | None = None) -> list[str]:
    """md5 of every decoded video frame (edit lists honoured), optionally filtered."""
    argv = [ffmpeg, "-v", "error", "-i", str(path), "-map", "0:v:0"]
    if select:
        argv += ["-vf", f"select={select}", "-fps_mode", "passthrough"]
    out = subprocess.run([*argv, "-f", "framemd5", "-"], capture_output=True, text=True, check=True)
    return [line.rsplit(",", 1)[1].strip() for line in out.stdout.splitlines() if line[:1] != "#"]


def timed_frame_hashes(ffmpeg: str, path: Path) -> list[tuple[Fraction, str]]:
    """(presentation time, md5) of every decoded video frame, times exact."""
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    time_base = Fraction(1)
    frames = []
    for line in out.stdout.splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and line[0] != "#":
            fields = [f.strip() for f in line.split(",")]
            frames.append((int(fields[2]) * time_base, fields[-1]))
    return frames


def source_frame_hashes(ffmpeg: str, source: Path, start: Fraction, end: Fraction) -> list[str]:
    """The source's decoded frames whose presentation time t satisfies start <= t < end.

    Exact arithmetic on timestamps: a float ``select`` filter misjudges frames
    that sit exactly on a cut.
    """
    frames = timed_frame_hashes(ffmpeg, source)
    first = frames[0][0] if frames else Fraction(0)
    return [md5 for t, md5 in frames if start <= t - first < end]


def stream_durations(ffmpeg: str, path: Path) -> dict[str, float]:
    """Container-level duration of each stream as ffmpeg reports it, by media type."""
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-c", "copy", "-f", "framecrc", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    kinds: dict[str, str] = {}
    bases: dict[str, Fraction] = {}
    ends: dict[str, int] = {}
    starts: dict[str, int] = {}
    for line in out.stdout.splitlines():
        if line.startswith("#media_type"):
            index, kind = line.split(" ", 1)[1].split(": ")
            kinds[index] = kind.strip()
        elif line.startswith("#tb"):
            index, base = line.split(" ", 1)[1].split(": ")
            bases[index] = Fraction(base.strip())
        elif line and line[0] != "#":
            fields = [f.strip() for f in line.split(",")]
            index, pts, dur = fields[0], int(fields[2]), int(fields[3])
            starts[index] = min(starts.get(index, pts), pts)
            ends[index] = max(ends.get(index, pts + dur), pts + dur)
    return {kinds[i]: float((ends[i] - starts[i]) * bases[i]) for i in ends}
