"""Real services for the whole suite: one throwaway PostgreSQL cluster, sample videos.

Each test that needs a database gets a fresh one cloned from a migrated
template, so tests never see each other's rows.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import asyncpg
import pytest

from db.connection import ensure_database
from db.embedded import EmbeddedCluster
from db.migrate import migrate
from pool.ffmpeg_binary import find_ffmpeg
from pool.sources.sample import make_sample
from tests.corpus import recipes
from tests.corpus.generate import generate_all
from tests.corpus.matrix import Corpus, CorpusSource, cut_points
from tests.mediacheck import decoded_frames, packets
from tests.servers import Server, ServerFactory, free_port, register, start_server

TEMPLATE_DB = "origin_template"
T = TypeVar("T")


def run_async(function: Callable[[], Awaitable[T]]) -> T:
    """Run ``function`` to completion on its own event loop in a worker thread.

    A thread, because Playwright's sync API keeps an event loop running in
    the main thread once a browser has started.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        return executor.submit(anyio.run, function).result()


_db_numbers = itertools.count()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # asyncpg needs asyncio


SESSION_PREFIX = "origin-tests-"


def _remove_abandoned_sessions() -> None:
    """Stop clusters and delete folders of earlier test sessions that were killed."""
    for folder in Path(tempfile.gettempdir()).glob(SESSION_PREFIX + "*"):
        pid = folder.name.removeprefix(SESSION_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        with contextlib.suppress(Exception):
            EmbeddedCluster(folder / "pg").stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    _remove_abandoned_sessions()
    # Not pytest's tmp_path: its 0700 parents keep the postgres user out
    # when the suite runs as root.
    path = Path(tempfile.mkdtemp(prefix=f"{SESSION_PREFIX}{os.getpid()}-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster(session_dir: Path) -> Iterator[str]:
    """Admin DSN of a private cluster started for this test session."""
    cluster = EmbeddedCluster(
        session_dir / "pg",
        settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"},
    )
    admin_dsn = cluster.ensure_running()

    async def make_template() -> None:
        dsn = await ensure_database(admin_dsn, TEMPLATE_DB)
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()

    run_async(make_template)
    try:
        yield admin_dsn
    finally:
        cluster.stop()


class Databases:
    """Creates and drops throwaway databases cloned from the migrated template."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn

    def create(self) -> str:
        name = f"test_{os.getpid()}_{next(_db_numbers)}"
        dsn: str = run_async(lambda: ensure_database(self.admin_dsn, name, template=TEMPLATE_DB))
        return dsn

    def drop(self, dsn: str) -> None:
        name = dsn.rsplit("/", 1)[1]

        async def drop() -> None:
            conn = await asyncpg.connect(self.admin_dsn)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        run_async(drop)


@pytest.fixture(scope="session")
def databases(pg_cluster: str) -> Databases:
    return Databases(pg_cluster)


@pytest.fixture
def database_url(databases: Databases) -> Iterator[str]:
    """A fresh, migrated, empty database for one test (sync, so any test can use it)."""
    dsn = databases.create()
    yield dsn
    databases.drop(dsn)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@dataclass
class StandaloneDatabase:
    """A migrated database on a cluster of its own, which a test may stop and start."""

    cluster: EmbeddedCluster
    dsn: str

    def stop(self) -> None:
        self.cluster.stop()

    def start(self) -> None:
        self.cluster.ensure_running()  # same port, so ``dsn`` stays valid


@pytest.fixture
def standalone_database(session_dir: Path) -> Iterator[StandaloneDatabase]:
    """For outage tests: stopping the suite's shared cluster would fail other tests."""
    cluster = EmbeddedCluster(session_dir / f"pg-{time.monotonic_ns()}", settings={"fsync": "off"})
    admin = cluster.ensure_running()

    async def prepare() -> str:
        dsn = await ensure_database(admin, "origin")
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        return dsn

    try:
        yield StandaloneDatabase(cluster, run_async(prepare))
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return find_ffmpeg(os.environ.get("ORIGIN_FFMPEG"))


@pytest.fixture(scope="session")
def sample_video(session_dir: Path, ffmpeg: str) -> Path:
    """30 s, 320x240, 30 fps H.264 (with B-frames) + AAC, keyframe every 2 s."""
    return make_sample(ffmpeg, session_dir / "media" / "sample.mp4", duration_s=30, size="320x240")


@pytest.fixture
def server_factory(session_dir: Path) -> Iterator[ServerFactory]:
    """Start servers on demand (``factory(database_url, **env)``); all stop after the test."""
    started: list[Server] = []

    def factory(database_url: str, home: Path | None = None, **env: str) -> Server:
        server = start_server(
            home or session_dir / f"home-{len(started)}-{time.monotonic_ns()}",
            {"DATABASE_URL": database_url, **env},
        )
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@dataclass(frozen=True)
class S3Server:
    """A real S3 API (moto's server mode) on loopback, with credentials for it."""

    endpoint_url: str
    env: dict[str, str]

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_DEFAULT_REGION"],
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ORIGIN_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    try:
        yield S3Server(f"http://127.0.0.1:{port}", env)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def corpus(databases: Databases, session_dir: Path, ffmpeg: str) -> Iterator[Corpus]:
    """The corpus (tests/corpus/recipes.py) registered through the CLI and served."""
    dsn = databases.create()
    paths = generate_all(ffmpeg)

    def examine(recipe: recipes.Recipe) -> CorpusSource:
        path = paths[recipe.name]
        frames = decoded_frames(ffmpeg, path)
        keys = sorted(p.time for p in packets(ffmpeg, path, "v:0") if p.key)
        cuts = ",".join(str(c) for c in cut_points(frames, keys))
        return CorpusSource(recipe, path, frames, keys, register(dsn, path, "--cuts", cuts))

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        sources = list(pool.map(examine, recipes.RECIPES))
    server = start_server(session_dir / "corpus-home", {"DATABASE_URL": dsn})
    folder = session_dir / "corpus-clips"
    folder.mkdir()
    yield Corpus(server, {s.recipe.name: s for s in sources}, folder, dsn)
    server.stop()
    databases.drop(dsn)
