"""Find an ffmpeg that actually runs.

Order: ``ORIGIN_FFMPEG`` (passed in as ``configured``), the binary shipped in
the ``imageio-ffmpeg`` wheel (it starts several times faster than distro builds,
see NOTES.md), then ``ffmpeg`` on PATH.

Both checks run processes and block: the server runs :func:`check_ffmpeg` in
a thread once it listens, and a cut waits for it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
from dataclasses import dataclass


class FfmpegNotFound(RuntimeError):
    """No candidate ffmpeg could be run; the message names every candidate tried."""


#: The ``-version`` line of each binary that ran (by :func:`_runs` or
#: :func:`ffmpeg_version`): finding ffmpeg and naming its build take one run.
_VERSIONS: dict[str, str] = {}


def _first_line(stdout: str, path: str) -> str:
    return stdout.splitlines()[0].strip() if stdout else path


def _runs(path: str) -> str | None:
    """Return None when ``path -version`` succeeds, else a short reason."""
    try:
        result = subprocess.run(
            [path, "-hide_banner", "-version"],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except FileNotFoundError:
        return "not found"
    except PermissionError:
        return "not executable"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if result.returncode != 0:
        return f"exited with status {result.returncode}"
    _VERSIONS[path] = _first_line(result.stdout.decode(errors="replace"), path)
    return None


def _wheel_ffmpeg() -> tuple[str | None, str]:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe(), ""
    except Exception as exc:  # the wheel raises RuntimeError or ImportError
        return None, f"unavailable ({exc})"


@dataclass(frozen=True)
class Ffmpeg:
    """An ffmpeg that runs: its path and the first line of its ``-version``."""

    path: str
    version: str
    checked_at: float  # time.monotonic() when it last ran


def check_ffmpeg(configured: str | None = None) -> Ffmpeg:
    """:func:`find_ffmpeg` and :func:`ffmpeg_version` together; FfmpegNotFound if either fails."""
    path = find_ffmpeg(configured)
    try:
        version = ffmpeg_version(path)
    except (OSError, subprocess.SubprocessError) as exc:
        raise FfmpegNotFound(f"{path} -version failed: {exc}") from None
    return Ffmpeg(path, version, time.monotonic())


def ffmpeg_version(path: str) -> str:
    """The first line of ``ffmpeg -version``: names the exact build (run once per path)."""
    if path not in _VERSIONS:
        result = subprocess.run(
            [path, "-hide_banner", "-version"],
            capture_output=True, text=True, timeout=20, check=True,
        )  # fmt: skip
        _VERSIONS[path] = _first_line(result.stdout, path)
    return _VERSIONS[path]


@functools.cache
def find_ffmpeg(configured: str | None = None) -> str:
    """Return the path of the ffmpeg to run, or raise FfmpegNotFound.

    An explicitly configured binary that does not run is an error, not a
    reason to fall back silently to another one.
    """
    if configured:
        reason = _runs(configured)
        if reason is None:
            return configured
        raise FfmpegNotFound(f"ORIGIN_FFMPEG={configured} does not run: {reason}")

    wheel, why = _wheel_ffmpeg()
    candidates = [
        ("imageio-ffmpeg", wheel, why),
        ("ffmpeg on PATH", shutil.which("ffmpeg"), "not found"),
    ]
    tried: list[str] = []
    for label, path, missing in candidates:
        if path is None:
            tried.append(f"{label}: {missing}")
            continue
        reason = _runs(path)
        if reason is None:
            return path
        tried.append(f"{label} {path}: {reason}")
    raise FfmpegNotFound("no runnable ffmpeg; tried " + "; ".join(tried))
