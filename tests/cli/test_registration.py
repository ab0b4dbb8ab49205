"""`origin sources add` refuses what no browser can play, in one line, and stores nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_user_error, ok_json, origin

TESTSRC = ("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1")
SINE = ("-f", "lavfi", "-i", "sine=duration=1")


def make(ffmpeg: str, path: Path, *args: str) -> Path:
    subprocess.run([ffmpeg, "-v", "error", "-y", *args, str(path)], check=True)
    return path


@pytest.mark.parametrize(
    ("name", "args", "reason"),
    [
        ("sound.m4a", (*SINE, "-c:a", "aac"), "no video stream"),
        ("clip.mkv", (*TESTSRC, "-c:v", "libx264"), r"not an MP4 or QuickTime file \(.*matroska"),
        ("clip.ts", (*TESTSRC, "-c:v", "libx264"), r"not an MP4 or QuickTime file \(.*mpegts"),
        ("xvid.mp4", (*TESTSRC, "-c:v", "mpeg4"), "mpeg4 video plays in no browser"),
        ("prores.mov", (*TESTSRC, "-c:v", "prores_ks"), "prores video plays in no browser"),
        ("text.mp4", (), "ffmpeg cannot read the source"),
    ],
)
def test_a_source_no_browser_plays_is_refused(
    ffmpeg: str, tmp_path: Path, database_url: str, name: str, args: tuple[str, ...], reason: str
) -> None:
    path = tmp_path / name
    if args:
        make(ffmpeg, path, *args)
    else:
        path.write_text("not a video\n")
    assert_user_error(origin("sources", "add", str(path), database_url=database_url), reason)
    assert ok_json("sources", "list", database_url=database_url) == []


def test_warnings_go_to_stderr_and_the_source_is_stored(
    ffmpeg: str, tmp_path: Path, database_url: str
) -> None:
    path = make(
        ffmpeg, tmp_path / "pcm.mov", *TESTSRC, *SINE, "-c:v", "libx264", "-c:a", "pcm_s16le"
    )
    result = origin("sources", "add", str(path), "--json", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "origin: warning: its pcm_s16le audio plays in no browser: clips play silent"
    ]
    assert [s["clip_count"] for s in ok_json("sources", "list", database_url=database_url)] == [1]
