"""Exact clip ends by rewriting edit lists, checked on ffmpeg's real output."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from pool.cutting.editlist import trim_presentation
from pool.mp4.boxes import Mp4Error, file_reader, read_moov
from tests.mediacheck import frame_hashes, source_frame_hashes


def stream_copy(
    ffmpeg: str, source: Path, out: Path, start: str, duration: str, *extra: str
) -> Path:
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-ss", start, "-i", str(source), "-t", duration,
         "-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-fflags", "+bitexact",
         "-movflags", "+faststart", *extra, "-f", "mp4", str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest.mark.parametrize(("start", "end"), [("12.4", "22.4"), ("4", "9.5"), ("0", "10")])
def test_b_frame_copy_ends_exactly_after_trimming(
    ffmpeg: str, sample_video: Path, tmp_path: Path, start: str, end: str
) -> None:
    begin, finish = Fraction(start), Fraction(end)
    clip = stream_copy(ffmpeg, sample_video, tmp_path / "c.mp4", start, str(float(finish - begin)))
    expected = source_frame_hashes(ffmpeg, sample_video, begin, finish)
    before = frame_hashes(ffmpeg, clip)
    trim_presentation(clip, finish - begin)
    after = frame_hashes(ffmpeg, clip)
    assert after == expected
    # The trim only ever removes frames at the end.
    assert before[: len(after)] == after


def test_track_without_edit_list_gets_one(ffmpeg: str, sample_video: Path, tmp_path: Path) -> None:
    clip = stream_copy(ffmpeg, sample_video, tmp_path / "c.mp4", "0", "10", "-use_editlist", "0")
    full = frame_hashes(ffmpeg, clip)
    trim_presentation(clip, Fraction(5))
    moov = read_moov(*file_reader(clip))
    assert all(trak.descend(b"edts", b"elst") for trak in moov.find_all(b"trak"))
    assert frame_hashes(ffmpeg, clip) == full[:150]
    # The audio still decodes from the file written anew.
    subprocess.run(
        [ffmpeg, "-v", "error", "-xerror", "-i", str(clip), "-map", "0:a:0", "-f", "null", "-"],
        check=True,
    )


def test_not_an_mp4(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00")
    with pytest.raises(Mp4Error, match="no moov"):
        trim_presentation(junk, Fraction(1))
