"""Export rows follow their job: an export whose job gave up reads as failed, not running."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from procrastinate.jobs import Status

from db import exports as export_store
from origin.jobs.app import job_queue
from origin.jobs.exports import request_export
from origin.settings import Settings
from tests.servers import register

pytestmark = pytest.mark.anyio


async def test_an_export_whose_job_gave_up_is_reported_failed(
    database_url: str, sample_video: Path, tmp_path: Path, conn: asyncpg.Connection
) -> None:
    clip = register(database_url, sample_video, env={"ORIGIN_CLIP_STORE": "none"})["clips"][0]
    async with job_queue(database_url, Settings(clip_store=str(tmp_path))) as jobs:
        export = await request_export(conn, jobs, clip["id"], destination=None)
        assert (await export_store.get_export(conn, export.id)).status == "queued"
        manager = jobs.app.job_manager
        worker_id = await manager.register_worker()
        job = await manager.fetch_job(queues=["export"], worker_id=worker_id)
        assert job is not None
        await export_store.mark_running(conn, export.id)
        await manager.finish_job(job, status=Status.FAILED, delete_job=False)
    shown = await export_store.get_export(conn, export.id)
    assert shown.status == "failed"
    assert shown.error is not None
    assert shown.error.startswith("the export job failed after")
    assert shown.finished_at is not None
