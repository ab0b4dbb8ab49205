"""Fixtures of the fleet tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

Wrapper = Callable[[str, str], str]


@pytest.fixture
def wrapper_script(tmp_path: Path, ffmpeg: str) -> Wrapper:
    """Write an executable shell script wrapping the real ffmpeg (``$REAL``).

    ``-version`` (the start-up check) goes straight to the real ffmpeg.
    """

    def write(name: str, body: str) -> str:
        path = tmp_path / "bin" / name
        path.parent.mkdir(exist_ok=True)
        version = 'case "$*" in *-version*) exec "$REAL" "$@";; esac'
        path.write_text(f'#!/bin/sh\nREAL="{ffmpeg}"\n{version}\n{body}\n')
        path.chmod(0o755)
        return str(path)

    return write
