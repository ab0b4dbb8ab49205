"""The maintenance tick: retry jobs of dead workers, drop superseded versions, cap the store.

One periodic job (procrastinate defers it once per tick, whichever workers
run) does four things:

- jobs left ``doing`` by a worker that stopped sending heartbeats (killed
  mid-job) go back to the queue: their cut was never visible, because store
  objects appear whole or not at all;
- store objects of a clip version that was superseded more than
  ``ORIGIN_STORE_GRACE_S`` ago (or of a clip that no longer exists and was
  not used for that long) are deleted;
- then the least recently used objects go until the store is under
  ``ORIGIN_STORE_MAX_BYTES``;
- expired cut leases (pool/fleet.py) of processes that died mid-cut go.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import structlog

from db import leases
from origin.jobs.runtime import runtime_of
from pool.store import ClipStore, StoredClip
from pool.store.directory import DirectoryStore

if TYPE_CHECKING:
    from procrastinate import JobContext

log = structlog.get_logger("origin.jobs")

#: A worker that has not sent a heartbeat for this many intervals is dead.
STALLED_AFTER_HEARTBEATS = 3
#: A temp file in a directory store older than this was left by a crashed writer.
STALE_TEMP_S = 3600.0

DeleteReason = Literal["superseded", "size"]


@dataclass(frozen=True)
class CurrentVersion:
    """A clip's current version and when it became current (epoch seconds)."""

    version: int
    since: float


def plan_store_cleanup(
    stored: Iterable[StoredClip],
    current: Mapping[int, CurrentVersion],
    *,
    now: float,
    grace_s: float,
    max_bytes: int,
) -> list[tuple[StoredClip, DeleteReason]]:
    """Which objects to delete, and why (pure: the caller lists and deletes)."""
    doomed: list[tuple[StoredClip, DeleteReason]] = []
    kept: list[StoredClip] = []
    for item in stored:
        ident = item.clip_version
        if ident is None:
            kept.append(item)
            continue
        clip_id, version = ident
        now_current = current.get(clip_id)
        if now_current is None:
            superseded = now - item.last_used > grace_s  # the clip is gone (merged away)
        else:
            superseded = version < now_current.version and now - now_current.since > grace_s
        if superseded:
            doomed.append((item, "superseded"))
        else:
            kept.append(item)
    total = sum(item.size for item in kept)
    for item in sorted(kept, key=lambda i: i.last_used):
        if total <= max_bytes:
            break
        doomed.append((item, "size"))
        total -= item.size
    return doomed


async def maintenance(context: JobContext, timestamp: int) -> None:
    """One maintenance tick (procrastinate passes the tick's ``timestamp``)."""
    runtime = runtime_of(context)
    settings = runtime.settings
    started = time.time()
    silent_s = STALLED_AFTER_HEARTBEATS * settings.worker_heartbeat_s
    stalled = list(await context.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=silent_s))
    for job in stalled:
        await context.app.job_manager.retry_job(job)
        log.warning("job_retried", job_id=job.id, task=job.task_name, reason="worker stalled")
    async with runtime.db_pool.acquire() as conn:
        await leases.sweep(conn)
    deleted: dict[DeleteReason, int] = {"superseded": 0, "size": 0}
    shared = runtime.clip_pool.store
    if shared is not None:
        deleted = await _clean_store(runtime.db_pool, shared.backend, settings.store_grace_s,
                                     settings.store_max_bytes)  # fmt: skip
    runtime.metrics.job_finished("maintenance", "done", started)
    if stalled or any(deleted.values()):
        counts = {f"deleted_{reason}": n for reason, n in deleted.items()}
        log.info("maintenance", retried=len(stalled), **counts)


async def _clean_store(
    db_pool: Any, store: ClipStore, grace_s: float, max_bytes: int
) -> dict[DeleteReason, int]:
    stored = await asyncio.to_thread(lambda: list(store.clips()))
    ids = sorted({ident[0] for item in stored if (ident := item.clip_version) is not None})
    async with db_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, version, updated_at FROM clips WHERE id = ANY($1::bigint[])", ids
        )
    current = {r["id"]: CurrentVersion(r["version"], r["updated_at"].timestamp()) for r in rows}
    plan = plan_store_cleanup(stored, current, now=time.time(), grace_s=grace_s,
                              max_bytes=max_bytes)  # fmt: skip
    deleted: dict[DeleteReason, int] = {"superseded": 0, "size": 0}
    for item, reason in plan:
        await asyncio.to_thread(store.delete, item.key)
        deleted[reason] += 1
    if isinstance(store, DirectoryStore):
        await asyncio.to_thread(store.remove_stale_temps, STALE_TEMP_S)
    return deleted
