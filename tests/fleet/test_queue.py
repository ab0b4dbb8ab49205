"""Deferring warm jobs: one waiting job per clip version, changed clips before neighbours."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import asyncpg
import pytest

from db import clips as clip_store
from origin.jobs.app import job_queue
from origin.settings import Settings
from tests.servers import register

pytestmark = pytest.mark.anyio


async def test_warm_jobs_are_deduplicated_per_clip_version_and_ordered(
    database_url: str, sample_video: Path, tmp_path: Path, conn: asyncpg.Connection
) -> None:
    # Registering through the CLI queued one job per clip already.
    register(database_url, sample_video, "--every", "10",
             env={"ORIGIN_CLIP_STORE": str(tmp_path / "store")})  # fmt: skip
    clips = await clip_store.list_clips(conn)
    settings = Settings(clip_store=str(tmp_path / "store"))
    async with job_queue(database_url, settings) as jobs:
        assert await jobs.warm(clips) == 0  # each version already has a waiting job
        changed = [dataclasses.replace(clips[1], version=2)]
        await jobs.warm_after_edit(changed, clips)
        assert await jobs.warm(changed) == 0
    rows = await conn.fetch(
        """SELECT args->>'clip_id' AS clip, args->>'version' AS version, priority
             FROM procrastinate_jobs WHERE task_name = 'warm_clip' ORDER BY id"""
    )
    queued = [(int(r["clip"]), int(r["version"]), r["priority"]) for r in rows]
    assert queued == [(1, 1, 0), (2, 1, 0), (3, 1, 0), (2, 2, 10)]
    # The workers' order: priority first, then age.
    [first] = await conn.fetch(
        "SELECT args->>'clip_id' AS clip FROM procrastinate_jobs ORDER BY priority DESC, id LIMIT 1"
    )
    assert first["clip"] == "2"


async def test_without_a_store_nothing_is_warmed(
    database_url: str, sample_video: Path, conn: asyncpg.Connection
) -> None:
    register(database_url, sample_video, env={"ORIGIN_CLIP_STORE": "none"})
    assert await conn.fetchval("SELECT count(*) FROM procrastinate_jobs") == 0
