"""Generate synthetic sample videos (demo and tests) with the project's ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_sample(
    ffmpeg: str,
    output: Path,
    *,
    duration_s: float = 120.0,
    size: str = "1280x720",
    fps: int = 30,
    keyframe_every_s: float = 2.0,
    bframes: bool = True,
) -> Path:
    """Write an H.264/AAC MP4 (testsrc2 + sine) with a fixed keyframe interval.

    Scene-cut keyframes are disabled so keyframes fall exactly every
    ``keyframe_every_s`` seconds, which tests rely on.
    """
    gop = round(fps * keyframe_every_s)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".part")
    x264_params = "scenecut=0" + ("" if bframes else ":bframes=0")
    argv = [
        ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(duration_s),
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-g", str(gop), "-keyint_min", str(gop), "-x264-params", x264_params,
        "-c:a", "aac", "-b:a", "96k",
        "-movflags", "+faststart", "-f", "mp4", str(tmp),
    ]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True, timeout=600)
    tmp.replace(output)
    return output
