"""S3 sources through a real S3 API (moto's server mode): ffmpeg reads presigned URLs."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pool.sources.sample import make_sample
from tests.conftest import S3Server
from tests.s3.counting_proxy import counting_proxy
from tests.servers import ServerFactory, free_port, register

BUCKET = "origin-media"


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> Iterator[str]:
    client = s3_server.client()
    client.create_bucket(Bucket=BUCKET)
    return BUCKET


def upload(s3_server: S3Server, path: Path, key: str) -> str:
    s3_server.client().upload_file(str(path), BUCKET, key)
    return f"s3://{BUCKET}/{key}"


def moov_size(path: Path) -> int:
    with path.open("rb") as f:
        while header := f.read(8):
            size, kind = struct.unpack(">I4s", header)
            if kind == b"moov":
                return int(size)
            f.seek(size - 8, 1)
    raise AssertionError("no moov")


def test_s3_clips_are_byte_identical_to_local_ones(
    database_url: str, sample_video: Path, s3_server: S3Server, bucket: str,
    server_factory: ServerFactory,
) -> None:  # fmt: skip
    uri = upload(s3_server, sample_video, "identical/sample.mp4")
    from_s3 = register(database_url, uri, "--cuts", "12.4,20", env=s3_server.env)
    local = register(database_url, sample_video, "--cuts", "12.4,20")
    assert from_s3["uri"] == uri
    assert from_s3["duration"] == local["duration"]
    server = server_factory(database_url, **s3_server.env)
    with server.client() as http:
        for s3_clip, local_clip in zip(from_s3["clips"], local["clips"], strict=True):
            a = http.get(s3_clip["url"])
            b = http.get(local_clip["url"])
            assert (a.status_code, b.status_code) == (200, 200)
            assert a.content == b.content
    # Presigned URLs (signatures) never reach the logs.
    assert "X-Amz-Signature=" not in server.log()
    assert "X-Amz-Credential=" not in server.log()


def test_a_replaced_object_is_refused_not_served(
    database_url: str, sample_video: Path, s3_server: S3Server, bucket: str,
    server_factory: ServerFactory, session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    uri = upload(s3_server, sample_video, "replaced/sample.mp4")
    clips = register(database_url, uri, "--every", "10", env=s3_server.env)["clips"]
    cache = session_dir / "replaced-cache"
    server = server_factory(database_url, ORIGIN_CACHE_DIR=str(cache), **s3_server.env)
    with server.client() as http:
        before = http.get(clips[0]["url"])
        assert before.status_code == 200
        other = make_sample(
            ffmpeg, session_dir / "media" / "other.mp4", duration_s=30, size="320x240", fps=25
        )
        upload(s3_server, other, "replaced/sample.mp4")
        refused = http.get(clips[1]["url"])
        assert refused.status_code == 503
        assert refused.headers["cache-control"] == "no-store"
        assert set(refused.json()) == {"error"}
        # What was cut from the registered bytes stays valid.
        assert http.get(clips[0]["url"]).content == before.content
    assert len(list(cache.glob("*.mp4"))) == 1


def test_a_clip_reads_only_its_byte_ranges(
    database_url: str, s3_server: S3Server, bucket: str, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    """A 10 s clip of a 5-minute source reads about the clip and the index, not the file."""
    long_source = make_sample(
        ffmpeg, session_dir / "media" / "five-minutes.mp4", duration_s=300, size="320x240"
    )
    uri = upload(s3_server, long_source, "long/five-minutes.mp4")
    endpoint = urlsplit(s3_server.endpoint_url)
    with counting_proxy((endpoint.hostname or "127.0.0.1", endpoint.port or 80)) as proxy:
        env = {**s3_server.env, "ORIGIN_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"}
        clips = register(database_url, uri, "--cuts", "123.4,133.4", env=env)["clips"]
        server = server_factory(database_url, **env)
        proxy.reset()
        with server.client() as http:
            clip = http.get(clips[1]["url"])
        assert clip.status_code == 200
        read = proxy.received
    budget = 1.3 * len(clip.content) + moov_size(long_source)
    assert read <= budget, (read, budget, long_source.stat().st_size)
    assert read < long_source.stat().st_size / 5


@pytest.mark.parametrize(
    ("key", "pattern"),
    [("missing/nothing.mp4", "no such object"), ("", "expected s3://bucket/key")],
)
def test_unusable_s3_uris_are_clear_cli_errors(
    database_url: str, s3_server: S3Server, bucket: str, key: str, pattern: str
) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "origin", "sources", "add", f"s3://{BUCKET}/{key}"],
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", **s3_server.env},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert pattern in result.stderr


@pytest.mark.parametrize("precision", ["smart", "editlist"])
def test_s3_down_is_503_and_cut_clips_keep_playing(
    database_url: str, sample_video: Path, s3_server: S3Server, bucket: str,
    server_factory: ServerFactory, session_dir: Path, precision: str,
) -> None:  # fmt: skip
    uri = upload(s3_server, sample_video, f"down-{precision}/sample.mp4")
    clips = register(database_url, uri, "--every", "2.5", env=s3_server.env)["clips"]
    cache = session_dir / f"s3-down-cache-{precision}"
    common = {"ORIGIN_CACHE_DIR": str(cache), "ORIGIN_PRECISION": precision}
    up = server_factory(database_url, **s3_server.env, **common)
    with up.client() as http:
        cut = http.get(clips[1]["url"])
        assert cut.status_code == 200
    up.stop()
    # The same cache, and S3 where nothing listens any more.
    down_env = {**s3_server.env, "ORIGIN_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    down = server_factory(database_url, **down_env, **common)
    with down.client() as http:
        asked = time.monotonic()
        refused = http.get(clips[2]["url"])
        assert refused.status_code == 503, refused.text
        assert time.monotonic() - asked < 10  # ffmpeg's reconnects give up within seconds
        assert refused.headers["cache-control"] == "no-store"
        assert int(refused.headers["retry-after"]) >= 1
        assert http.get(clips[1]["url"]).content == cut.content
    assert list(cache.glob("*.tmp")) == []
