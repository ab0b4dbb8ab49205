"""File mode with the real ffmpeg: exact frames, stable bytes, the cache in front."""

from __future__ import annotations

import asyncio
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from pool.errors import SourceUnavailable
from tests.pool.conftest import MakePool, clip, eventually

FPS = 30


def decoded_frames(ffmpeg: str, path: Path) -> list[tuple[Fraction, str]]:
    """(presentation time in seconds, md5 of the decoded picture) of every video frame."""
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    time_base = Fraction(1)
    frames = []
    for line in out.splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and not line.startswith("#"):
            fields = [f.strip() for f in line.split(",")]
            frames.append((int(fields[2]) * time_base, fields[5]))
    return frames


def source_span(frames: list[tuple[Fraction, str]], start: str, end: str) -> list[str]:
    """md5s of the source frames presented in ``[start, end)``."""
    lo, hi = Fraction(start), Fraction(end)
    return [md5 for pts, md5 in frames if lo <= pts < hi]


@pytest.fixture(scope="module")
def source_frames(ffmpeg: str, sample_no_bframes: Path) -> list[tuple[Fraction, str]]:
    return decoded_frames(ffmpeg, sample_no_bframes)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("start", "end"),
    [("4", "9"), ("5.5", "9.5")],
    ids=["starts-on-keyframe", "starts-mid-gop"],
)
async def test_clip_frames_equal_the_source_frames(
    make_pool: MakePool,
    ffmpeg: str,
    sample_no_bframes: Path,
    source_frames: list[tuple[Fraction, str]],
    start: str,
    end: str,
) -> None:
    pool = await make_pool()
    path = await pool.get_file(clip(sample_no_bframes, start, end))

    frames = decoded_frames(ffmpeg, path)
    expected = source_span(source_frames, start, end)
    assert len(expected) == round((Fraction(end) - Fraction(start)) * FPS)
    assert [md5 for _, md5 in frames] == expected
    # Hashes ignore timestamps: the clip must also present frame i at i/FPS, from 0.
    assert [pts for pts, _ in frames] == [Fraction(i, FPS) for i in range(len(expected))]


@pytest.mark.anyio
async def test_clip_end_is_exact_with_bframes(
    make_pool: MakePool, ffmpeg: str, sample_video: Path
) -> None:
    pool = await make_pool()
    path = await pool.get_file(clip(sample_video, "5.5", "9.5"))
    expected = source_span(decoded_frames(ffmpeg, sample_video), "5.5", "9.5")
    assert [md5 for _, md5 in decoded_frames(ffmpeg, path)] == expected


@pytest.mark.anyio
async def test_two_runs_give_identical_bytes(make_pool: MakePool, sample_no_bframes: Path) -> None:
    pool = await make_pool()
    first = await pool.get_file(clip(sample_no_bframes, "5.5", "9.5", clip_id=1))
    second = await pool.get_file(clip(sample_no_bframes, "5.5", "9.5", clip_id=2))
    assert first != second
    assert pool.runs_started == 2
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.anyio
async def test_a_cached_clip_is_served_without_running_ffmpeg(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool()
    request = clip(sample_no_bframes, "2", "4")
    assert pool.cached(request) is None
    path = await pool.get_file(request)
    assert path.name == request.cache_key + ".mp4"
    assert await pool.get_file(request) == path
    assert pool.cached(request) == path
    assert pool.runs_started == 1
    assert pool.cache.hits == 2
    assert pool.run_outcomes["ok"] == 1
    assert list(path.parent.glob("*.tmp")) == []


@pytest.mark.anyio
async def test_run_is_measured(make_pool: MakePool, sample_no_bframes: Path) -> None:
    results = []
    pool = await make_pool(on_run=lambda request, result: results.append((request, result)))
    request = clip(sample_no_bframes, "2", "4")
    path = await pool.get_file(request)
    [(seen, result)] = results
    assert seen == request
    assert result.outcome == "ok"
    assert result.exit_status == 0
    # ffmpeg's stream copy, which the clip is then written again from (exact edits).
    assert abs(result.bytes_out - path.stat().st_size) < 0.05 * result.bytes_out
    assert result.startup_s is not None
    assert 0 < result.startup_s <= result.run_s


@pytest.mark.anyio
async def test_missing_source_is_source_unavailable(make_pool: MakePool, tmp_path: Path) -> None:
    pool = await make_pool()
    missing = tmp_path / "secret-dir" / "gone.mp4"
    missing.parent.mkdir()
    missing.write_bytes(b"x")
    request = clip(missing, "0", "1")
    missing.unlink()
    with pytest.raises(SourceUnavailable) as caught:
        await pool.get_file(request)
    assert "secret-dir" not in str(caught.value)  # the public message names no path
    assert "No such file" in caught.value.detail
    assert list(pool.cache.directory.iterdir()) == []


@pytest.mark.anyio
async def test_below_the_disk_floor_clips_are_cut_into_transient_files(
    make_pool: MakePool, sample_video: Path, tmp_path: Path
) -> None:
    request = clip(sample_video, "2.5", "6.5")  # mid-GOP: the smart cut re-encodes a head
    full = await make_pool(cache_min_free_bytes=1 << 62)
    first, second = await full.fetch_file(request), await full.fetch_file(request)
    assert first.transient
    assert second.transient
    assert first.path != second.path
    roomy = await make_pool(cache_dir=tmp_path / "roomy")
    cached = await roomy.fetch_file(request)
    assert not cached.transient
    # The very clip a cache would hold: same bytes, not a fragmented stand-in.
    assert first.path.read_bytes() == second.path.read_bytes() == cached.path.read_bytes()
    full.discard_transient(first)
    full.discard_transient(second)
    assert list(full.cache.directory.iterdir()) == []
    assert full.cached(request) is None


@pytest.mark.anyio
async def test_a_transient_cut_whose_caller_leaves_leaves_nothing(
    make_pool: MakePool, sample_video: Path
) -> None:
    pool = await make_pool(cache_min_free_bytes=1 << 62)
    fetching = asyncio.create_task(pool.fetch_file(clip(sample_video, "2.5", "20.5")))
    await eventually(lambda: pool.runs_started > 0 or pool.status().active > 0)
    fetching.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fetching
    await eventually(lambda: pool.status().in_flight == 0, 10)
    await eventually(lambda: list(pool.cache.directory.iterdir()) == [])
