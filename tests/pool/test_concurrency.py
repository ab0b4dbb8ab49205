"""Coalescing and slots with the real ffmpeg."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pool.errors import Saturated
from tests.pool.conftest import MakePool, clip, eventually, ffmpeg_children

pytestmark = pytest.mark.anyio


async def test_concurrent_requests_for_one_cold_clip_share_one_run(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool()
    request = clip(sample_no_bframes, "5.5", "15.5")
    paths = await asyncio.gather(*(pool.get_file(request) for _ in range(30)))
    assert pool.runs_started == 1
    assert set(paths) == {pool.cache.path_for(request.cache_key)}
    assert pool.cache.files == 1


async def test_saturation_with_no_queue_fails_fast_and_leaves_no_process(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool(max_processes=2, queue_timeout_s=0)
    requests = [clip(sample_no_bframes, "1", "9", clip_id=i) for i in range(12)]
    results = await asyncio.gather(*(pool.get_file(r) for r in requests), return_exceptions=True)

    saturated = [r for r in results if isinstance(r, Saturated)]
    ok = [r for r in results if isinstance(r, Path)]
    assert saturated, "with 2 slots and no queue, 12 concurrent cold runs must overflow"
    assert ok, "the runs that got a slot must succeed"
    assert len(saturated) + len(ok) == 12
    assert pool.runs_started == len(ok)
    assert all(e.retry_after_s > 0 for e in saturated)
    assert pool.status().active == 0
    await eventually(lambda: not ffmpeg_children(), 2.0)
    # Nothing half-written stays behind for the refused ones.
    assert sorted(p.name for p in pool.cache.directory.iterdir()) == sorted(p.name for p in ok)


async def test_queued_requests_wait_for_a_slot(
    make_pool: MakePool, sample_no_bframes: Path
) -> None:
    pool = await make_pool(max_processes=2, queue_timeout_s=30)
    requests = [clip(sample_no_bframes, "1", "9", clip_id=i) for i in range(8)]
    seen_active = []

    async def watch() -> None:
        while True:
            seen_active.append(pool.status().active)
            await asyncio.sleep(0.002)

    watcher = asyncio.create_task(watch())
    try:
        paths = await asyncio.gather(*(pool.get_file(r) for r in requests))
    finally:
        watcher.cancel()
    assert len(set(paths)) == 8
    assert pool.runs_started == 8
    assert max(seen_active) <= 2


async def test_status_reports_live_ffmpeg(make_pool: MakePool, sample_no_bframes: Path) -> None:
    pool = await make_pool(max_processes=3)
    status = pool.status()
    assert (status.active, status.max, status.waiting, status.pids) == (0, 3, 0, ())
    stream = pool.stream(clip(sample_no_bframes, "0", "30", mode="pipe"))
    async with stream:
        status = pool.status()
        assert status.active == 1
        assert len(status.pids) == 1
        assert status.in_flight == 1
