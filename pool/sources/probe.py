"""Probe a source with the project's ffmpeg: duration, codecs, keyframes, rotation.

The wheel's ffmpeg ships without ffprobe, so this lists every packet with the
``framecrc`` muxer (stream copy, no decoding). Its header names each stream's
codec, dimensions and pixel aspect; packets without an ``F=`` flag field are
keyframes. Times are seconds on the source's presentation timeline, the one
players use for the file itself: ``-copyts`` keeps the demuxer's timestamps
(edit list applied, not shifted to the first frame), so a file whose first
frame shows at 0.0667 s says so, and its duration is the end of its last frame.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction


class ProbeError(ValueError):
    """The source is not a usable video; the message is safe to show a user."""


@dataclass(frozen=True)
class ProbeResult:
    """Facts about a source that clip cutting depends on."""

    duration: float
    container: str
    video_codec: str
    audio_codec: str | None
    width: int  # coded size
    height: int
    frame_count: int  # frames shown (a frame decoded only as a reference is not)
    keyframes: tuple[float, ...]
    rotation: int = 0  # clockwise degrees the display matrix turns the picture: 0/90/180/270
    sample_aspect: Fraction = Fraction(1)

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as players show the picture: aspect applied, then rotation."""
        width = round(self.width * self.sample_aspect)
        return (self.height, width) if self.rotation in (90, 270) else (width, self.height)


@dataclass
class _Stream:
    media_type: str = ""
    codec: str = ""
    time_base: Fraction = Fraction(1)
    dimensions: tuple[int, int] = (0, 0)
    sample_aspect: Fraction = Fraction(1)


_HEADER = re.compile(r"^#(\w+) (\d+): (.*)$")
_INPUT_FORMAT = re.compile(r"^Input #0, (.+?), from ", re.MULTILINE)
_ROTATION = re.compile(r"rotation of (-?[0-9.]+) degrees")


def _clockwise(stderr: str) -> int:
    """The first video stream's display rotation, clockwise, from ffmpeg's input listing.

    ffmpeg prints the display matrix's angle counterclockwise ("rotation of
    -90.00 degrees" is a phone held upright); only right angles are kept.
    """
    video = stderr.partition("Video:")[2].split("Stream #", 1)[0]
    match = _ROTATION.search(video)
    if match is None:
        return 0
    return round(-float(match.group(1)) / 90) % 4 * 90


def _parse_framecrc(text: str) -> tuple[dict[int, _Stream], list[tuple[int, int, int, bool]]]:
    """Split framecrc output into stream headers and (stream, pts, duration, key) packets."""
    streams: dict[int, _Stream] = {}
    packets: list[tuple[int, int, int, bool]] = []
    for line in text.splitlines():
        if line.startswith("#"):
            match = _HEADER.match(line)
            if not match:
                continue
            key, index, value = match.group(1), int(match.group(2)), match.group(3).strip()
            stream = streams.setdefault(index, _Stream())
            if key == "tb":
                stream.time_base = Fraction(value)
            elif key == "media_type":
                stream.media_type = value
            elif key == "codec_id":
                stream.codec = value
            elif key == "dimensions":
                w, h = value.split("x")
                stream.dimensions = (int(w), int(h))
            elif key == "sar" and value not in ("0/1", "0/0"):
                stream.sample_aspect = Fraction(value)
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6:
            continue
        flags = next((f[2:] for f in fields[6:] if f.startswith("F=")), None)
        key = flags is None or bool(int(flags, 16) & 1)
        packets.append((int(fields[0]), int(fields[2]), int(fields[3]), key))
    return streams, packets


def probe(
    ffmpeg: str,
    ffmpeg_input: str,
    *,
    input_options: tuple[str, ...] = (),
    timeout_s: float = 600,
) -> ProbeResult:
    """Read every packet header of ``ffmpeg_input`` and summarise it.

    Raises ProbeError for anything that is not a video ffmpeg can read.
    """
    argv = [
        ffmpeg, "-hide_banner", "-nostdin", "-v", "info", "-copyts", *input_options,
        "-i", ffmpeg_input, "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-f", "framecrc", "-",
    ]  # fmt: skip
    try:
        result = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ProbeError(f"probing took longer than {timeout_s:.0f} s") from None
    stderr = result.stderr.decode(errors="replace")
    if result.returncode != 0:
        if "matches no streams" in stderr or "Stream map '0:v:0'" in stderr:
            raise ProbeError("the source has no video stream")
        last = [line for line in stderr.strip().splitlines() if line.strip()]
        reason = last[-1] if last else "unknown error"
        raise ProbeError(f"ffmpeg cannot read the source: {reason}")

    streams, packets = _parse_framecrc(result.stdout.decode(errors="replace"))
    video_index = next((i for i, s in sorted(streams.items()) if s.media_type == "video"), None)
    if video_index is None:
        raise ProbeError("the source has no video stream")
    video = streams[video_index]
    audio = next((s for s in streams.values() if s.media_type == "audio"), None)

    video_packets = [p for p in packets if p[0] == video_index]
    # Frames before the presentation starts (hidden by an edit list) decode but never show.
    shown = [p for p in video_packets if p[1] >= 0]
    if not shown:
        raise ProbeError("the source's video stream has no frames")
    duration = float(max(p[1] + p[2] for p in shown) * video.time_base)
    if duration <= 0:
        raise ProbeError("the source's video stream has no duration")
    keyframes = tuple(sorted(float(p[1] * video.time_base) for p in video_packets if p[3]))
    match = _INPUT_FORMAT.search(stderr)
    return ProbeResult(
        duration=duration,
        container=match.group(1) if match else "unknown",
        video_codec=video.codec,
        audio_codec=audio.codec if audio else None,
        width=video.dimensions[0],
        height=video.dimensions[1],
        frame_count=len(shown),
        keyframes=keyframes,
        rotation=_clockwise(stderr),
        sample_aspect=video.sample_aspect,
    )
