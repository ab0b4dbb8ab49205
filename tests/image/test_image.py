"""The production image, built from the real Dockerfile, run from its own files.

`make test-image` builds the image (infra/image/build) and runs this module with
HEATERS_IMAGE set; `make test` skips it. The image's entry point runs as the
image's user against the test PostgreSQL and a source in a real S3 API, the way
it runs on Fly: the database migrated by the image's `origin db up` (fly.toml's
release command), the source registered by the image's CLI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.connection import ensure_database
from tests.conftest import S3Server, run_async
from tests.image.rootfs import RootFs
from tests.mediacheck import frame_hashes, frame_psnr, source_frame_hashes
from tests.servers import Server, ServerFactory, free_port, scrape, wait_until_serving

IMAGE = os.environ.get("HEATERS_IMAGE", "")
pytestmark = pytest.mark.skipif(not IMAGE, reason="needs a built image: make test-image")

BUCKET = "image-media"
#: What a registry stores and a Fly machine pulls: the layers, gzip-compressed.
MAX_COMPRESSED_BYTES = 250 * 1024 * 1024
# Mid-GOP cuts (keyframes every 2 s), so the image's ffmpeg re-encodes a head.
CUTS = "3.3,7.1"
MIN_PSNR_DB = 40.0  # as tests/corpus: re-encoded frames look like the source's


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RootFs]:
    root = RootFs.export(IMAGE, tmp_path_factory.mktemp("image") / "rootfs")
    yield root
    root.remove()


@pytest.fixture(scope="module")
def fresh_database(pg_cluster: str) -> str:
    """An empty database: only the image's `origin db up` creates its tables."""
    return run_async(lambda: ensure_database(pg_cluster, f"image_{os.getpid()}"))


@pytest.fixture(scope="module")
def deployed(
    rootfs: RootFs, fresh_database: str, s3_server: S3Server, sample_video: Path
) -> Iterator[tuple[Server, dict[str, Any], dict[str, str]]]:
    """The image's entry point serving a migrated database with one S3 source."""
    env = {"DATABASE_URL": fresh_database, **s3_server.env}
    rootfs.run(["origin", "db", "up"], env)
    client = s3_server.client()
    client.create_bucket(Bucket=BUCKET)
    client.upload_file(str(sample_video), BUCKET, "sample.mp4")
    added = rootfs.run(
        ["origin", "sources", "add", f"s3://{BUCKET}/sample.mp4", "--cuts", CUTS, "--json"], env
    )
    source: dict[str, Any] = json.loads(added.stdout)
    port = free_port()
    log_path = rootfs.path.parent / "serve.log"
    with log_path.open("wb") as log:
        process = rootfs.popen(
            None, {**env, "PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT
        )
    server = wait_until_serving(Server(process, f"http://127.0.0.1:{port}", log_path))
    yield server, source, env
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete.
    assert server.stop() in (0, -signal.SIGTERM), server.log()[-2000:]


def test_the_entry_point_serves_as_the_image_user(
    deployed: tuple[Server, dict[str, Any], dict[str, str]], rootfs: RootFs
) -> None:
    server, _, _ = deployed
    with server.client() as http:
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        scrape(http)  # parses as Prometheus text
        assert "origin_request_seconds_bucket" in http.get("/metrics").text
    # The process is the image's command, as the image's user: never root.
    uid, _ = rootfs.ids(rootfs.config.user)
    assert uid != 0
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert {int(u) for u in uids} == {uid}
    cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")
    assert b"serve" in cmdline
    # Container defaults: JSON logs, state under /data.
    first = server.log().splitlines()[0]
    assert first.startswith("{"), first
    assert (rootfs.path / "data" / "cache").is_dir()


def test_a_clip_is_frame_exact_and_identical_to_the_host_build(
    deployed: tuple[Server, dict[str, Any], dict[str, str]],
    server_factory: ServerFactory, ffmpeg: str, sample_video: Path, tmp_path: Path,
) -> None:  # fmt: skip
    server, source, env = deployed
    clip = source["clips"][1]  # 3.3 s to 7.1 s: a smart cut
    with server.client() as http:
        from_image = http.get(clip["url"])
    assert from_image.status_code == 200, from_image.text
    out = tmp_path / "clip.mp4"
    out.write_bytes(from_image.content)
    start, end = Fraction(str(clip["start"])), Fraction(str(clip["end"]))
    got = frame_hashes(ffmpeg, out)
    want = source_frame_hashes(ffmpeg, sample_video, start, end)
    assert len(got) == len(want)
    # Copied from the keyframe at 4 s (clip frame 21) on; the head before it is
    # re-encoded, and so may be the last mini-GOP (7.1 s falls inside one).
    assert got[21:-4] == want[21:-4]
    psnr = frame_psnr(ffmpeg, out, sample_video, first=round(start * 30), count=len(want))
    assert min(psnr) >= MIN_PSNR_DB

    host = server_factory(env["DATABASE_URL"], **env)
    with host.client() as http:
        from_host = http.get(clip["url"])
    assert from_host.status_code == 200
    assert from_host.headers["etag"] == from_image.headers["etag"]
    assert from_host.content == from_image.content


def test_the_review_page_and_its_assets_are_in_the_image(
    deployed: tuple[Server, dict[str, Any], dict[str, str]],
) -> None:
    server, source, _ = deployed
    with server.client() as http:
        page = http.get(f"/review/sources/{source['id']}")
        assert page.status_code == 200
        assets = [part.split('"')[0] for part in page.text.split('"/assets/')[1:]]
        assert assets
        for asset in assets:
            assert http.get(f"/assets/{asset}").status_code == 200, asset


def test_the_file_system_holds_no_build_tools_or_caches(rootfs: RootFs) -> None:
    root = rootfs.path
    tools = ["gcc", "cc", "c++", "g++", "clang", "make", "ld", "as", "pip", "pip3", "git"]
    found = [
        str(directory / tool)
        for directory in (root / "usr/bin", root / "usr/local/bin", root / "opt/venv/bin")
        for tool in tools
        if (directory / tool).exists()
    ]
    assert found == []
    site = next((root / "opt/venv/lib").glob("python3*/site-packages"))
    assert not list(site.glob("pip*"))
    assert not list(site.glob("setuptools*"))
    assert not (root / "opt/pip").exists()  # the build stage's installer
    assert not (root / "src").exists()  # the build stage's sources
    for cache in ("root/.cache", "data/.cache", "var/cache/apt/archives/partial"):
        assert not any((root / cache).glob("*")) if (root / cache).exists() else True
    assert not any((root / "var/lib/apt/lists").glob("*_Packages"))
    # Byte-compiled at build time: the runtime user cannot write __pycache__.
    assert (site / "origin/__pycache__").is_dir()


def test_the_image_is_small_enough_to_pull_fast(rootfs: RootFs) -> None:
    """The gzip-compressed file system: about what a registry stores and a machine pulls."""
    packed = subprocess.run(
        f"tar -C {rootfs.path} -cf - . | gzip -6 | wc -c",
        shell=True, check=True, capture_output=True, text=True,
    )  # fmt: skip
    compressed = int(packed.stdout)
    assert compressed <= MAX_COMPRESSED_BYTES, (compressed, rootfs.config.size_bytes)


def test_readyz_fails_without_the_database(rootfs: RootFs, s3_server: S3Server) -> None:
    """The image's health checks mean what fly.toml relies on: alive without a database,
    not ready."""
    port = free_port()
    dead = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    log_path = rootfs.path.parent / "nodb.log"
    with log_path.open("wb") as log:
        process = rootfs.popen(
            None,
            {"DATABASE_URL": dead, "PORT": str(port), "ORIGIN_HOME": "/tmp/no-database"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = wait_until_serving(Server(process, f"http://127.0.0.1:{port}", log_path))
    try:
        assert httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 503
    finally:
        server.stop()
