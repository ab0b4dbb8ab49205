"""Thumbnails: the exact first frame of the clip, public, cached, versioned."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.servers import ServerFactory, register, scrape, value

FPS = 30  # the sample's frame rate


def psnr(ffmpeg: str, a: Path, b: Path) -> float:
    out = subprocess.run(
        [ffmpeg, "-v", "info", "-hide_banner", "-i", str(a), "-i", str(b), "-lavfi",
         "[0:v]format=yuv444p[x];[1:v]format=yuv444p[y];[x][y]psnr", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    match = re.search(r"average:([0-9.]+|inf)", out.stderr)
    assert match, out.stderr
    return float(match.group(1))


def source_frame(ffmpeg: str, source: Path, index: int, out: Path) -> Path:
    """Frame ``index`` of the source, decoded from the start (no seeking involved)."""
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(source), "-vf", f"select=eq(n\\,{index})",
         "-fps_mode", "passthrough", "-frames:v", "1", "-update", "1", str(out)],
        check=True,
    )  # fmt: skip
    return out


def test_thumbnail_is_the_clips_first_frame(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    ffmpeg: str, tmp_path: Path,
) -> None:  # fmt: skip
    clip = register(database_url, sample_video, "--cuts", "12.5")["clips"][1]  # mid-GOP
    server = server_factory(database_url, ORIGIN_SIGNING_KEY="secret")
    path = f"/videos/clips/{clip['id']}/thumbnail/v1.jpg"
    with server.client() as http:
        answer = http.get(path)  # no token needed, signing or not
        head = http.head(path)
        again = http.get(path, headers={"If-None-Match": answer.headers["etag"]})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.content[:2] == b"\xff\xd8"
    assert head.status_code == 200
    assert head.headers["etag"] == answer.headers["etag"]
    assert again.status_code == 304

    thumb = tmp_path / "thumb.jpg"
    thumb.write_bytes(answer.content)
    first = round(12.5 * FPS)
    exact = psnr(ffmpeg, thumb, source_frame(ffmpeg, sample_video, first, tmp_path / "a.png"))
    before = psnr(ffmpeg, thumb, source_frame(ffmpeg, sample_video, first - 1, tmp_path / "b.png"))
    keyframe = psnr(ffmpeg, thumb, source_frame(ffmpeg, sample_video, 12 * FPS, tmp_path / "k.png"))
    assert exact > 30
    assert exact > before + 3
    assert exact > keyframe + 3


def test_thumbnail_versions_and_the_cache_across_restarts(
    database_url: str, sample_video: Path, server_factory: ServerFactory, session_dir: Path
) -> None:
    clip = register(database_url, sample_video, "--every", "10")["clips"][0]
    cache = session_dir / "thumbnail-cache"
    server = server_factory(database_url, ORIGIN_CACHE_DIR=str(cache))
    with server.client() as http:
        first = http.get(f"/videos/clips/{clip['id']}/thumbnail/v1.jpg")
        assert first.status_code == 200
        split = http.post(f"/api/clips/{clip['id']}/split", json={"at": 5})
        assert (
            split.json()["changed"][0]["thumbnail"]
            == f"/videos/clips/{clip['id']}/thumbnail/v2.jpg"
        )
        old = http.get(f"/videos/clips/{clip['id']}/thumbnail/v1.jpg", follow_redirects=False)
        assert old.status_code == 302
        assert old.headers["location"] == f"/videos/clips/{clip['id']}/thumbnail/v2.jpg"
        assert http.get(f"/videos/clips/{clip['id']}/thumbnail/v3.jpg").status_code == 404
        assert http.get(f"/videos/clips/{clip['id']}/thumbnail/v2").status_code == 400
        second = http.get(f"/videos/clips/{clip['id']}/thumbnail/v2.jpg")
        # Same first frame, new version: same picture, new cache entry.
        assert second.content == first.content
    server.stop()
    assert len(list(cache.glob("*.jpg"))) == 2

    restarted = server_factory(database_url, ORIGIN_CACHE_DIR=str(cache))
    with restarted.client() as http:
        assert http.get(f"/videos/clips/{clip['id']}/thumbnail/v2.jpg").content == first.content
        samples = scrape(http)
    # The JPEGs survived the start-up check and were served without a run.
    assert value(samples, "origin_cache_hits_total") == 1
    assert value(samples, "origin_ffmpeg_runs_total", mode="jpeg", outcome="ok") == 0
