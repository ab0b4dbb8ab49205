"""Helpers that look at media the way a player does: decoded frames and their times."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


def frame_hashes(ffmpeg: str, path: Path, *, select: str | None = None) -> list[str]:
    """md5 of every decoded video frame (edit lists honoured), optionally filtered."""
    options = ["-vf", f"select={select}", "-fps_mode", "passthrough"] if select else []
    _, rows = _listing(ffmpeg, path, "framemd5", *options)
    return [row[-1] for row in rows]


def _rows(listing: str) -> tuple[Fraction, list[list[str]]]:
    """A framemd5/framecrc listing's first time base and each row's fields."""
    time_base = Fraction(1)
    rows = []
    for line in listing.splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and line[0] != "#":
            rows.append([f.strip() for f in line.split(",")])
    return time_base, rows


def _listing(
    ffmpeg: str, path: Path, muxer: str, *options: str, input_options: tuple[str, ...] = ()
) -> tuple[Fraction, list[list[str]]]:
    """ffmpeg's per-frame (framemd5) or per-packet (framecrc) listing of the first video
    stream, on the file's own timeline and in its coded orientation: its time base and
    each row's fields."""
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-copyts", "-noautorotate", *input_options, "-i", str(path),
         "-map", "0:v:0",
         *options, "-enc_time_base:v", "demux", "-f", muxer, "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return _rows(out.stdout)


def decoder_complaints(ffmpeg: str, path: Path) -> str:
    """What ffmpeg's decoders log at level error while decoding the whole file."""
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stderr


def is_key(packet: list[str]) -> bool:
    """Whether a framecrc row is a keyframe's packet (rows without flags are)."""
    flags = next((f for f in packet[6:] if f.startswith("F=")), None)
    return flags is None or bool(int(flags[2:], 16) & 1)


def timed_frame_hashes(ffmpeg: str, path: Path) -> list[tuple[Fraction, str]]:
    """(presentation time, md5) of every decoded video frame, times exact."""
    time_base, rows = _listing(ffmpeg, path, "framemd5")
    return [(int(row[2]) * time_base, row[-1]) for row in rows]


def source_frame_hashes(ffmpeg: str, source: Path, start: Fraction, end: Fraction) -> list[str]:
    """The source's decoded frames whose presentation time t satisfies start <= t < end.

    Exact arithmetic on timestamps: a float ``select`` filter misjudges frames
    that sit exactly on a cut.
    """
    return [md5 for t, md5 in timed_frame_hashes(ffmpeg, source) if start <= t < end]


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


def frame_hashes_ignoring_edit_lists(ffmpeg: str, path: Path) -> list[str]:
    """md5 of every decoded video frame with the MP4 edit lists ignored."""
    _, rows = _listing(ffmpeg, path, "framemd5", input_options=("-ignore_editlist", "1"))
    return [row[-1] for row in rows]


def frame_psnr(ffmpeg: str, clip: Path, source: Path, first: int, count: int) -> list[float]:
    """PSNR (dB, inf when identical) of each clip frame against source frames first…first+count.

    Source frames are chosen by index in presentation order, so the pairing is exact.
    """
    graph = (
        f"[1:v]trim=start_frame={first}:end_frame={first + count},"
        "settb=AVTB,setpts=N*10000[ref];"
        "[0:v]settb=AVTB,setpts=N*10000[clip];[clip][ref]psnr=stats_file=-"
    )
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(clip), "-i", str(source), "-lavfi", graph,
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    values = []
    for line in out.stdout.splitlines():
        fields = dict(f.split(":", 1) for f in line.split() if ":" in f)
        if "psnr_avg" in fields:
            values.append(float(fields["psnr_avg"]))
    return values


def sequence_parameter_sets(ffmpeg: str, path: Path) -> dict[int, dict[str, int]]:
    """Every H.264 SPS in the file (its avcC and its samples), by id: field → value.

    Read with ffmpeg's ``trace_headers`` bitstream filter, which prints each
    syntax element as it parses it.
    """
    out = subprocess.run(
        [ffmpeg, "-v", "trace", "-i", str(path), "-map", "0:v:0", "-c", "copy",
         "-bsf:v", "trace_headers", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    sets: dict[int, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in out.stderr.splitlines():
        if "trace_headers" not in line:
            continue
        text = line.partition("]")[2].strip()
        if text.endswith("Parameter Set") or text.startswith(("Slice", "Supplementary")):
            current = {} if text == "Sequence Parameter Set" else None
            continue
        fields = text.split()
        if current is None or len(fields) < 4 or fields[-2] != "=":
            continue
        current[fields[1]] = int(fields[-1])
        if fields[1] == "seq_parameter_set_id":
            sets.setdefault(int(fields[-1]), current)
    return sets


@dataclass(frozen=True)
class Frame:
    """One decoded video frame as a player gets it: when it shows, its picture, its size."""

    time: Fraction  # presentation time on the file's own timeline (seconds)
    md5: str
    size: tuple[int, int]  # coded width and height (no rotation applied)


_SHOWINFO = re.compile(r"\bn:\s*(\d+)\b.*?\bs:(\d+)x(\d+)\b")


def decoded_frames(ffmpeg: str, path: Path) -> list[Frame]:
    """Every decoded video frame at its presentation time, as players time it.

    ``-copyts`` keeps the file's own timestamps (no shift to the first frame)
    and the demuxer's time base keeps them exact (the encoder's default,
    one over the frame rate, would round them); ``-noautorotate`` keeps the
    coded orientation, so sizes and hashes are the encoder's and a wrongly
    turned picture stands out.
    """
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-v", "info", "-copyts", "-noautorotate",
         "-i", str(path), "-map", "0:v:0", "-vf", "showinfo", "-fps_mode", "passthrough",
         "-enc_time_base:v", "demux", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    sizes = [(int(m[2]), int(m[3])) for m in _SHOWINFO.finditer(out.stderr)]
    time_base, rows = _rows(out.stdout)
    assert len(sizes) == len(rows), (path, len(sizes), len(rows))
    return [
        Frame(int(row[2]) * time_base, row[-1], size) for row, size in zip(rows, sizes, strict=True)
    ]


@dataclass(frozen=True)
class Packet:
    """One stream-copied packet: presentation time and duration (seconds) and a CRC."""

    time: Fraction
    duration: Fraction
    crc: str
    key: bool


def packet_rows(ffmpeg: str, path: Path, stream: str) -> tuple[Fraction, list[list[str]]]:
    """ffmpeg's framecrc rows (stream, dts, pts, duration, size, adler32[, flags]) of
    ``stream`` on the file's own timeline, with their time base; none if it has no such stream."""
    out = subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-copyts", "-i", str(path),
         "-map", f"0:{stream}", "-c", "copy", "-f", "framecrc", "-"],
        capture_output=True, text=True,
    )  # fmt: skip
    if "matches no streams" in out.stderr:
        return Fraction(1), []
    out.check_returncode()
    return _rows(out.stdout)


def packets(ffmpeg: str, path: Path, stream: str) -> list[Packet]:
    """The packets of ``stream`` (``"v:0"``, ``"a:0"``) on the file's own timeline."""
    time_base, rows = packet_rows(ffmpeg, path, stream)
    return [Packet(int(r[2]) * time_base, int(r[3]) * time_base, r[5], is_key(r)) for r in rows]


_ROTATION = re.compile(r"rotation of (-?[0-9.]+) degrees")


def display_rotation(ffmpeg: str, path: Path) -> float:
    """The video's display-matrix rotation as ffmpeg reports it (degrees, 0 without one)."""
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True
    )
    match = _ROTATION.search(out.stderr)
    return float(match.group(1)) if match else 0.0
