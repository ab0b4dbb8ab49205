"""Registering an S3 source reads its index, not the file: the moov plus a bounded few bytes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pool.sources.sample import make_sample
from tests.conftest import S3Server
from tests.s3.counting_proxy import counting_proxy
from tests.s3.test_s3_sources import BUCKET, bucket, moov_size, upload
from tests.servers import register

__all__ = ["bucket"]  # the module fixture, shared

#: What registration may read beyond the moov: the reader's first 64 KiB request,
#: a few small (4 KiB) reads of box headers and keyframes' first bytes, and the
#: HTTP response headers of S3's answers.
BOUND = 64 * 1024 + 16 * 4096


def remux(ffmpeg: str, source: Path, output: Path, *movflags: str) -> Path:
    if not output.exists():
        argv = [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(source),
                "-c", "copy", *movflags, str(output)]  # fmt: skip
        subprocess.run(argv, check=True, capture_output=True, timeout=300)
    return output


@pytest.fixture(scope="module")
def long_source(session_dir: Path, ffmpeg: str) -> Path:
    path = session_dir / "media" / "registration-three-minutes.mp4"
    if not path.exists():
        make_sample(ffmpeg, path, duration_s=180, size="320x240")
    return path


@pytest.mark.parametrize("layout", ["faststart", "moov-at-end"])
def test_registration_reads_the_moov_and_a_bounded_few_bytes(
    database_url: str, s3_server: S3Server, bucket: str, long_source: Path, ffmpeg: str,
    session_dir: Path, layout: str,
) -> None:  # fmt: skip
    flags = ("-movflags", "+faststart") if layout == "faststart" else ()
    path = remux(ffmpeg, long_source, session_dir / "media" / f"registration-{layout}.mp4", *flags)
    uri = upload(s3_server, path, f"registration/{layout}.mp4")
    endpoint = urlsplit(s3_server.endpoint_url)
    with counting_proxy((endpoint.hostname or "127.0.0.1", endpoint.port or 80)) as proxy:
        env = {**s3_server.env, "ORIGIN_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"}
        added = register(database_url, uri, "--every", "10", env=env)
        read = proxy.received
    assert uri.startswith(f"s3://{BUCKET}/")
    assert added["probe"] == "index"
    budget = moov_size(path) + BOUND
    assert read <= budget, (read, budget, path.stat().st_size)
    assert added["probe_bytes"] <= read
    local = register(database_url, path, "--every", "10")
    assert local["probe"] == "index"
    assert local["probe_bytes"] <= budget
    assert added["duration"] == local["duration"]


def test_a_fragmented_source_is_scanned_and_says_so(
    database_url: str, s3_server: S3Server, bucket: str, long_source: Path, ffmpeg: str,
    session_dir: Path,
) -> None:  # fmt: skip
    path = remux(
        ffmpeg, long_source, session_dir / "media" / "registration-fragmented.mp4",
        "-movflags", "frag_keyframe+empty_moov",
    )  # fmt: skip
    added = register(database_url, upload(s3_server, path, "registration/fragmented.mp4"),
                     "--every", "10", env=s3_server.env)  # fmt: skip
    assert added["probe"] == "scan"
    assert added["probe_bytes"] >= path.stat().st_size
    local = register(database_url, path, "--every", "10")
    assert local["probe"] == "scan"
    assert local["duration"] == added["duration"]
