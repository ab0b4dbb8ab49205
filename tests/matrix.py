"""The smart-cut test matrix: generated H.264/AAC sources and the clips cut from them.

Each source is short (6 s) but real: x264 with B-frames, the GOP structures
and frame rates the smart cut must handle. Cut points are placed relative to
each source's actual keyframes so every source gets the same cases: a clip
starting on a keyframe, one starting mid-GOP with a keyframe inside, one
inside a single GOP, ends mid-GOP, and one running to the end of the file.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from tests.mediacheck import keyframe_times

DURATION_S = 6


@dataclass(frozen=True)
class MatrixSource:
    """How to generate one source."""

    name: str
    size: str
    rate: str  # ffmpeg frame rate: "25", "30000/1001"
    x264: tuple[str, ...]  # encoder options after -c:v libx264
    audio_rate: int = 48000


SOURCES = (
    # x264's defaults (preset medium, 3 B-frames, B-pyramid, keyint 250, scene cuts):
    # in 6 s the only keyframe is the first, so later clips are re-encoded whole.
    MatrixSource("x264-defaults-720p25", "1280x720", "25", ()),
    MatrixSource(
        "closed-gop-2s-1080p2997", "1920x1080", "30000/1001",
        ("-preset", "veryfast", "-g", "60", "-keyint_min", "60", "-x264-params", "scenecut=0"),
    ),
    MatrixSource(
        "open-gop-2s-720p2997", "1280x720", "30000/1001",
        ("-preset", "veryfast", "-g", "60", "-x264-params", "open-gop=1:scenecut=0"),
        audio_rate=44100,
    ),
    # Main profile, anamorphic (SAR 4:3) and BT.709-tagged: the re-encoded
    # frames must say the same.
    MatrixSource(
        "main-profile-2s-1080p25", "1920x1080", "25",
        ("-preset", "veryfast", "-profile:v", "main", "-g", "50", "-x264-params",
         "scenecut=0:sar=4/3:colorprim=bt709:transfer=bt709:colormatrix=bt709"),
    ),
)  # fmt: skip


def generate(ffmpeg: str, spec: MatrixSource, folder: Path) -> Path:
    """Write ``spec`` as an MP4 (+faststart) with a sine on AAC; return its path."""
    path = folder / f"{spec.name}.mp4"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    subprocess.run(
        [
            ffmpeg, "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={spec.size}:rate={spec.rate}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={spec.audio_rate}",
            "-t", str(DURATION_S), "-pix_fmt", "yuv420p",
            "-c:v", "libx264", *spec.x264, "-c:a", "aac", "-b:a", "96k",
            "-movflags", "+faststart", "-f", "mp4", str(part),
        ],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    part.replace(path)
    return path


def generate_all(ffmpeg: str, folder: Path) -> dict[str, Path]:
    """Every matrix source, generated side by side."""
    with concurrent.futures.ThreadPoolExecutor(len(SOURCES)) as pool:
        paths = pool.map(lambda spec: generate(ffmpeg, spec, folder), SOURCES)
    return {spec.name: path for spec, path in zip(SOURCES, paths, strict=True)}


def _down(t: Fraction) -> Decimal:
    """A source time as the database stores it (to the microsecond), not after ``t``."""
    return (Decimal(t.numerator) / Decimal(t.denominator)).quantize(
        Decimal("0.000001"), rounding=ROUND_FLOOR
    )


def cut_points(ffmpeg: str, path: Path) -> list[Decimal]:
    """Cuts that give every case; the keyframes at about 2 s and 4 s anchor them."""
    keys = keyframe_times(ffmpeg, path)
    k1 = next((k for k in keys if k > 1), Fraction(2))
    k2 = next((k for k in keys if k > k1 + 1), Fraction(4))
    return [
        _down(k1) - Decimal("0.7"),  # [0, k1 - 0.7): from a keyframe, ends mid-GOP
        _down(k1),  # [k1 - 0.7, k1): inside one GOP
        _down(k1) + Decimal("1.3"),  # [k1, k1 + 1.3): starts on a keyframe, ends mid-GOP
        _down(k2) + Decimal("0.5"),  # [k1 + 1.3, k2 + 0.5): mid-GOP, keyframe inside
        _down(k2) + Decimal("1.2"),  # [k2 + 0.5, k2 + 1.2): inside one GOP
    ]  # [k2 + 1.2, end): mid-GOP to the end of the source


@dataclass(frozen=True)
class MatrixClip:
    """One clip of the matrix, as registered."""

    source: str
    path: Path
    clip: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.source}[{self.clip['start']}-{self.clip['end']}]"

    @property
    def start(self) -> Fraction:
        return Fraction(str(self.clip["start"]))

    @property
    def end(self) -> Fraction:
        return Fraction(str(self.clip["end"]))
