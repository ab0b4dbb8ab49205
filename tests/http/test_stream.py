"""The clip stream route behaves like a static MP4 file (file mode, the default)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Databases
from tests.mediacheck import frame_hashes, source_frame_hashes
from tests.servers import Server, register, start_server


@dataclass
class Served:
    server: Server
    database_url: str
    clips: list[dict[str, Any]]


@pytest.fixture(scope="module")
def served(databases: Databases, sample_video: Path, session_dir: Path) -> Iterator[Served]:
    """The sample cut at random (mostly mid-GOP) points, served in file mode."""
    rng = random.Random(20261123)
    cuts = sorted(rng.sample(range(5, 295), 7))
    dsn = databases.create()
    added = register(dsn, sample_video, "--cuts", ",".join(str(c / 10) for c in cuts))
    server = start_server(session_dir / "stream-home", {"DATABASE_URL": dsn})
    yield Served(server, dsn, added["clips"])
    server.stop()
    databases.drop(dsn)


@pytest.fixture
def http(served: Served) -> Iterator[httpx.Client]:
    with served.server.client() as client:
        yield client


def test_a_clip_is_a_static_mp4(served: Served, http: httpx.Client) -> None:
    url = served.clips[1]["url"]
    first = http.get(url)
    assert first.status_code == 200
    h = first.headers
    assert h["content-type"] == "video/mp4"
    assert int(h["content-length"]) == len(first.content) > 1000
    assert h["accept-ranges"] == "bytes"
    assert h["cache-control"] == "public, max-age=31536000, immutable"
    assert h["x-content-type-options"] == "nosniff"
    assert h["etag"].startswith('"')
    assert not h["etag"].startswith("W/")
    assert "last-modified" in h
    assert first.content[4:8] == b"ftyp"

    head = http.head(url)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-length", "etag", "cache-control", "content-type", "last-modified"):
        assert head.headers[name] == h[name]

    again = http.get(url)
    assert again.content == first.content
    assert again.headers["etag"] == h["etag"]


@pytest.mark.parametrize(
    ("range_header", "expected"),
    [
        ("bytes=0-99", slice(0, 100)),
        ("bytes=0-", slice(0, None)),
        ("bytes=100-", slice(100, None)),
        ("bytes=-500", slice(-500, None)),
        ("bytes=1000-1000", slice(1000, 1001)),
    ],
)
def test_single_ranges(
    served: Served, http: httpx.Client, range_header: str, expected: slice
) -> None:
    url = served.clips[2]["url"]
    full = http.get(url).content
    part = http.get(url, headers={"Range": range_header})
    assert part.status_code == 206
    assert part.content == full[expected]
    start = expected.start if expected.start >= 0 else len(full) + expected.start
    end = start + len(part.content) - 1
    assert part.headers["content-range"] == f"bytes {start}-{end}/{len(full)}"
    assert int(part.headers["content-length"]) == len(part.content)
    assert part.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_range_edge_cases(served: Served, http: httpx.Client) -> None:
    url = served.clips[2]["url"]
    full = http.get(url).content
    size = len(full)

    beyond = http.get(url, headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert beyond.json() == {"error": "range not satisfiable"}

    for bad in ("bytes=abc", "items=0-1", "bytes=5-1", "bytes"):
        malformed = http.get(url, headers={"Range": bad})
        assert malformed.status_code == 400, bad
        assert set(malformed.json()) == {"error"}

    multi = http.get(url, headers={"Range": "bytes=0-9,20-29"})
    assert multi.status_code == 206
    assert multi.headers["content-type"].startswith("multipart/byteranges")
    assert full[:10] in multi.content
    assert full[20:30] in multi.content

    head = http.head(url, headers={"Range": "bytes=0-99"})
    assert head.status_code == 206
    assert head.headers["content-range"] == f"bytes 0-99/{size}"
    assert head.content == b""


def test_if_range(served: Served, http: httpx.Client) -> None:
    url = served.clips[3]["url"]
    full = http.get(url)
    etag = full.headers["etag"]
    same = http.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert (same.status_code, same.content) == (206, full.content[:10])
    changed = http.get(url, headers={"Range": "bytes=0-9", "If-Range": '"something-else"'})
    assert (changed.status_code, changed.content) == (200, full.content)


def test_if_none_match(served: Served, http: httpx.Client) -> None:
    url = served.clips[3]["url"]
    etag = http.get(url).headers["etag"]
    for value in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        not_modified = http.get(url, headers={"If-None-Match": value})
        assert not_modified.status_code == 304, value
        assert not_modified.content == b""
        assert not_modified.headers["etag"] == etag
        assert not_modified.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert http.head(url, headers={"If-None-Match": etag}).status_code == 304
    assert http.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_edit_list_clips_decode_to_exactly_the_sources_frames(
    served: Served, ffmpeg: str, sample_video: Path, session_dir: Path, tmp_path: Path
) -> None:
    """5 random clips, cut mid-GOP from a B-frame source with ORIGIN_PRECISION=editlist:
    stream copies whose decoded frames are exactly the source's, first and last included.
    (The smart cut, the default, is checked frame by frame in tests/smartcut.)"""
    server = start_server(
        session_dir / "editlist-home",
        {"DATABASE_URL": served.database_url, "ORIGIN_PRECISION": "editlist"},
    )
    try:
        with server.client() as http:
            bodies = {c["id"]: http.get(c["url"]).content for c in served.clips}
    finally:
        server.stop()
    for clip in random.Random(5).sample(served.clips, 5):
        out = tmp_path / f"clip-{clip['id']}.mp4"
        out.write_bytes(bodies[clip["id"]])
        start, end = Fraction(str(clip["start"])), Fraction(str(clip["end"]))
        expected = source_frame_hashes(ffmpeg, sample_video, start, end)
        got = frame_hashes(ffmpeg, out)
        assert len(got) == len(expected), (clip, len(got), len(expected))
        assert got[0] == expected[0]
        assert got[-1] == expected[-1]
        assert got == expected


def test_another_replica_serves_identical_bytes(
    served: Served, http: httpx.Client, session_dir: Path
) -> None:
    url = served.clips[4]["url"]
    here = http.get(url)
    replica = start_server(session_dir / "replica-home", {"DATABASE_URL": served.database_url})
    try:
        with replica.client() as other:
            there = other.get(url)
    finally:
        replica.stop()
    assert there.content == here.content
    assert there.headers["etag"] == here.headers["etag"]
    assert there.headers["last-modified"] == here.headers["last-modified"]


def test_versions_redirect_and_404(served: Served, http: httpx.Client) -> None:
    clip = served.clips[-1]
    old_url = clip["url"]
    split = http.post(
        f"/api/clips/{clip['id']}/split", json={"at": (clip["start"] + clip["end"]) / 2}
    )
    assert split.status_code == 200, split.text
    new_url = split.json()["changed"][0]["url"]
    assert new_url.endswith("/v2")

    old = http.get(old_url, follow_redirects=False)
    assert old.status_code == 302
    assert old.headers["location"] == new_url
    assert old.headers["cache-control"] == "public, max-age=60"
    assert http.head(old_url, follow_redirects=False).status_code == 302

    future = http.get(new_url.replace("/v2", "/v3"))
    assert future.status_code == 404
    assert future.headers["cache-control"] == "public, max-age=10"
    assert set(future.json()) == {"error"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/videos/clips/999999/stream/v1", 404),
        ("/videos/clips/0/stream/v1", 404),
        ("/videos/clips/1/stream/v0", 404),
        ("/videos/clips/1/stream/v99999999999", 400),
        ("/videos/clips/1/stream/1", 400),
        ("/videos/clips/1/stream/v", 400),
        ("/videos/clips/1/stream/v1.mp4", 400),
        ("/videos/clips/abc/stream/v1", 400),
        ("/videos/clips/-1/stream/v1", 400),
        ("/videos/clips/1/stream/v-1", 400),
    ],
)
def test_bad_clip_urls(http: httpx.Client, path: str, status: int) -> None:
    response = http.get(path)
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    assert response.headers["cache-control"] in ("public, max-age=10", "no-store")


def test_other_methods_are_refused(served: Served, http: httpx.Client) -> None:
    response = http.post(served.clips[0]["url"])
    assert response.status_code == 405
    assert set(response.json()) == {"error"}
