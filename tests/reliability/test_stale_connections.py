"""The first requests after a suspension: pooled connections that died while the machine slept.

Fly.io suspends an idle machine (``auto_stop_machines = "suspend"``) and
resumes it on the next request, with the pools as they were. Their idle
PostgreSQL connections may have been closed meanwhile (server or PgBouncer
idle timeouts, a NAT forgetting them) and the process cannot know until it
writes on one. tests/relay.py plays that: the origin is stopped (SIGSTOP),
its backends are terminated behind a relay that keeps their sockets open,
and the origin resumes. Before db.connection.Pool checked idle connections,
each of the pool's ten dead connections failed one request with a 503.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import asyncpg
import httpx
import pytest

import db.connection
from db.connection import IDLE_CHECK_S, create_pool
from origin.jobs.app import job_queue
from origin.settings import Settings
from tests.conftest import run_async
from tests.relay import Relay
from tests.servers import Server, ServerFactory, json_lines, register, scrape, value

#: Long enough for every connection to be one the pool checks.
SUSPENSION_S = IDLE_CHECK_S + 0.5
KINDS = ("connect", "lost", "timeout", "read_only")


def terminate_backends(dsn: str) -> int:
    """Terminate every other backend of ``dsn``'s database, from a connection of our own."""

    async def run() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            killed: int = await conn.fetchval(
                """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid()"""
            )
            return killed
        finally:
            await conn.close()

    return run_async(run)


@contextlib.contextmanager
def relayed(dsn: str) -> Iterator[Relay]:
    relay = Relay(dsn)
    try:
        yield relay
    finally:
        relay.close()


@contextlib.contextmanager
def suspended(server: Server, relay: Relay) -> Iterator[None]:
    """The server stopped, and what PostgreSQL says lost, for the block and then
    :data:`SUSPENSION_S`; connections closed meanwhile stay open towards the server."""
    server.process.send_signal(signal.SIGSTOP)
    try:
        with relay.suspended():
            yield
            time.sleep(SUSPENSION_S)
    finally:
        server.process.send_signal(signal.SIGCONT)


def kill_while_suspended(server: Server, relay: Relay, dsn: str) -> int:
    """Suspend the server, terminate its backends, resume; return how many died."""
    with suspended(server, relay):
        terminate_backends(dsn)
        with contextlib.suppress(AssertionError):
            return relay.wait_severed(timeout_s=2)
        relay.sever_the_rest()  # one was being opened when the server stopped
        return relay.wait_severed()


def thumbnail(clip: dict[str, Any]) -> str:
    return f"/videos/clips/{clip['id']}/thumbnail/v{clip['version']}.jpg"


def db_errors(http: httpx.Client) -> dict[str, float]:
    samples = scrape(http)
    return {kind: value(samples, "origin_db_errors_total", kind=kind) for kind in KINDS}


def get_all(server: Server, paths: list[str]) -> list[int]:
    """GET every path at once, each from a client of its own; the statuses in order."""

    def get(path: str) -> int:
        with server.client() as http:
            return http.get(path).status_code

    with concurrent.futures.ThreadPoolExecutor(len(paths)) as executor:
        return list(executor.map(get, paths))


def fill_the_pool(server: Server, relay: Relay, paths: list[str], at_least: int) -> None:
    """Concurrent requests until the server holds ``at_least`` database connections."""
    deadline = time.monotonic() + 20
    while relay.links() < at_least:
        assert time.monotonic() < deadline, f"only {relay.links()} connections"
        # Twice the pool's size at once: with fewer, quick queries seldom overlapped
        # enough to open all ten (once in a full make test, 9 in 20 s of tries).
        assert set(get_all(server, paths * 8)) == {200}


def test_requests_after_a_suspension_never_meet_its_dead_connections(
    database_url: str, sample_video: Path, server_factory: ServerFactory
) -> None:
    added = register(database_url, sample_video, "--every", "2.5")
    clips, source_id = added["clips"], added["id"]
    api = ["/api/sources", f"/api/sources/{source_id}/clips", f"/api/sources/{source_id}"]
    with relayed(database_url) as relay:
        server = server_factory(relay.dsn)
        fill_the_pool(server, relay, api, at_least=10)
        assert kill_while_suspended(server, relay, database_url) >= 10
        with server.client() as http:
            # One at a time: without the check, each took the next dead connection.
            sequential = [
                (path, http.get(path).status_code)
                for path in [
                    *api,
                    clips[3]["url"],  # not cut yet: its row is read
                    thumbnail(clips[4]),
                    *api, *api,
                    clips[5]["url"],
                    thumbnail(clips[6]),
                ]
            ]  # fmt: skip
            assert {status for _, status in sequential} == {200}, sequential
            # All at once, after another suspension.
            fill_the_pool(server, relay, api, at_least=10)
            assert kill_while_suspended(server, relay, database_url) >= 10
            paths = [*api, clips[7]["url"], thumbnail(clips[8]), clips[9]["url"]] * 3
            assert get_all(server, paths) == [200] * len(paths)
            # Nothing failed, so nothing counts as an outage.
            assert db_errors(http) == dict.fromkeys(KINDS, 0)
    lines = json_lines(server)
    assert not [line for line in lines if line.get("status", 0) >= 500]
    assert not [line for line in lines if line["level"] in ("error", "critical")]
    stale = [line for line in lines if line["event"] == "db_connection_stale"]
    assert len(stale) >= 10  # dead connections replaced, and said so
    assert all(line["idle_s"] >= IDLE_CHECK_S for line in stale)


def test_an_outage_found_on_resume_still_answers_503_at_once(
    database_url: str, sample_video: Path, server_factory: ServerFactory
) -> None:
    source_id = register(database_url, sample_video, "--every", "10")["id"]
    with relayed(database_url) as relay:
        server = server_factory(relay.dsn, ORIGIN_DB_TIMEOUT_S="1")
        fill_the_pool(server, relay, ["/api/sources", f"/api/sources/{source_id}/clips"], 4)
        with relay.refusing():  # the database is down, and its backends died with it
            assert kill_while_suspended(server, relay, database_url) >= 4
            with server.client() as http:
                for _ in range(3):
                    started = time.monotonic()
                    answer = http.get("/api/sources")
                    assert answer.status_code == 503, answer.text
                    assert answer.headers["retry-after"]
                    # A check, then a connection refused: not the whole timeout, nor one
                    # per dead connection.
                    assert time.monotonic() - started < 1.0
                errors = db_errors(http)
        assert errors == {**dict.fromkeys(KINDS, 0), "connect": 3}
        with server.client() as http:
            assert http.get("/api/sources").status_code == 200


# The pool itself, in this process: clocks a suspended machine may show, and a
# server that never answers.


async def _backend_pids(pool: db.connection.Pool, count: int) -> set[int]:
    """Hold ``count`` connections at once, so the pool has that many; their backends."""
    pids: set[int] = set()

    async def hold() -> None:
        async with pool.acquire(timeout=5) as conn:
            pids.add(await conn.fetchval("SELECT pg_backend_pid()"))
            await asyncio.sleep(0.2)

    await asyncio.gather(*(hold() for _ in range(count)))
    return pids


def _wall_clock_ahead(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The wall clock jumps ``seconds`` ahead, the monotonic one does not: a machine
    resumed from a snapshot whose monotonic clock stood still while it slept."""
    real = time.time
    fake = types.SimpleNamespace(monotonic=time.monotonic, time=lambda: real() + seconds)
    monkeypatch.setattr(db.connection, "time", fake)


@pytest.mark.anyio
@pytest.mark.parametrize("then", ["reset", "silence"])
async def test_a_pause_seen_by_the_wall_clock_alone_is_checked(
    database_url: str, monkeypatch: pytest.MonkeyPatch, then: Literal["reset", "silence"]
) -> None:
    with relayed(database_url) as relay:
        pool = await create_pool(relay.dsn, timeout_s=2.0)
        try:
            before = await _backend_pids(pool, 4)
            with relay.suspended(then):
                await asyncio.to_thread(terminate_backends, database_url)
                assert await asyncio.to_thread(relay.wait_severed) == 4
            _wall_clock_ahead(monkeypatch, 3600)
            started = time.monotonic()
            async with pool.acquire(timeout=2.0) as conn:
                pid = await conn.fetchval("SELECT pg_backend_pid()")
            took_s = time.monotonic() - started
            # Three more: every dead connection is gone, none costs a request.
            after = await _backend_pids(pool, 4)
        finally:
            await pool.close()
    assert pid not in before
    assert not before & after
    # A server that never answers costs one check (half the time allowed), not
    # one per dead connection: the others were idle across the same pause.
    assert took_s < 1.5, took_s


@pytest.mark.anyio
async def test_a_connection_used_moments_ago_is_handed_out_unchecked(database_url: str) -> None:
    """The other side of the threshold: no round trip for connections in steady use.
    One that died unnoticed within :data:`IDLE_CHECK_S` fails its caller."""
    with relayed(database_url) as relay:
        pool = await create_pool(relay.dsn, timeout_s=2.0)
        try:
            await _backend_pids(pool, 1)
            with relay.suspended():
                await asyncio.to_thread(terminate_backends, database_url)
                assert await asyncio.to_thread(relay.wait_severed) == 1
            with pytest.raises((OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)):
                async with pool.acquire(timeout=2.0) as conn:
                    await conn.fetchval("SELECT 1")
            async with pool.acquire(timeout=2.0) as conn:  # asyncpg replaced it
                assert await conn.fetchval("SELECT 1") == 1
        finally:
            await pool.close()


@pytest.mark.anyio
async def test_deferring_jobs_after_the_backends_died_waits_for_no_backoff(
    database_url: str, tmp_path: Path
) -> None:
    """procrastinate's psycopg pool checks every connection it hands out, but backs
    off (1 s, 2 s, 4 s) between dead ones: with four, a defer took seconds."""
    settings = Settings(clip_store=str(tmp_path / "store"))
    async with job_queue(database_url, settings) as jobs:
        pool = jobs.app.connector.pool  # type: ignore[attr-defined]

        async def hold() -> None:
            async with pool.connection() as conn:
                await conn.execute("SELECT pg_sleep(0.2)")

        await asyncio.gather(*(hold() for _ in range(4)))
        assert pool.get_stats()["pool_size"] == 4
        # The connections notice nothing: psycopg reads nothing while idle.
        assert await asyncio.to_thread(terminate_backends, database_url) >= 4
        started = time.monotonic()
        job_id = await jobs.export(12345)
        took_s = time.monotonic() - started
        assert job_id > 0
        assert (await jobs.depth())[("export", "todo")] == 1
    assert took_s < 0.5, took_s
