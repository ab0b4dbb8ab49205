"""Putting jobs in: warm jobs after registration and edits, export jobs, and queue depth.

Deferring is best effort for warming: an edit is committed before its warm
jobs are deferred, and a failure to defer is logged and counted, never
turned into a failed edit (the clip is then cut on its first request, as
without warming). Warm jobs are deduplicated per clip version by
procrastinate's queueing lock: at most one waiting job per version.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from db.records import ClipRecord
from origin.jobs import QUEUES

if TYPE_CHECKING:
    from procrastinate import App

log = structlog.get_logger("origin.jobs")

#: Warm jobs for the clips an edit changed run before those of their neighbours.
CHANGED_PRIORITY = 10
NEIGHBOUR_PRIORITY = 0


def neighbours(changed: Sequence[ClipRecord], clips: Sequence[ClipRecord]) -> list[ClipRecord]:
    """The clips right before and after each changed clip (changed ones left out)."""
    changed_ids = {c.id for c in changed}
    ordered = sorted(clips, key=lambda c: c.start)
    found: dict[int, ClipRecord] = {}
    for i, clip in enumerate(ordered):
        if clip.id in changed_ids:
            for j in (i - 1, i + 1):
                if 0 <= j < len(ordered) and ordered[j].id not in changed_ids:
                    found[ordered[j].id] = ordered[j]
    return sorted(found.values(), key=lambda c: c.start)


class JobQueue:
    """The deferring side of the job app (open it before use, close it after)."""

    def __init__(self, app: App, *, warming: bool) -> None:
        self.app = app
        self.warming = warming  # False without a clip store: there is nothing to warm
        self.defer_errors = 0
        #: The last :meth:`depth` read, for /status/pool (empty until the first one).
        self.last_depth: dict[tuple[str, str], int] = {}

    async def open(self) -> None:
        """Open the connection pool used to defer jobs."""
        await self.app.open_async()

    async def close(self) -> None:
        """Close it."""
        await self.app.close_async()

    async def warm(self, clips: Iterable[ClipRecord], *, priority: int = 0) -> int:
        """Defer a warm job per clip version not already waiting; return how many were new."""
        if not self.warming:
            return 0
        from procrastinate.exceptions import AlreadyEnqueued  # loaded with the app by now

        task = self.app.tasks["warm_clip"]
        deferred = 0
        try:
            for clip in clips:
                try:
                    await task.configure(
                        queueing_lock=f"warm:{clip.id}:v{clip.version}", priority=priority
                    ).defer_async(clip_id=clip.id, version=clip.version, enqueued_at=time.time())
                    deferred += 1
                except AlreadyEnqueued:
                    continue
        except Exception as exc:  # the database said no: warming is best effort
            self.defer_errors += 1
            log.warning("warm_defer_failed", error=f"{type(exc).__name__}: {exc}")
        return deferred

    async def warm_after_edit(
        self, changed: Sequence[ClipRecord], clips: Sequence[ClipRecord]
    ) -> None:
        """The changed clips' new versions first, then their neighbours."""
        await self.warm(changed, priority=CHANGED_PRIORITY)
        await self.warm(neighbours(changed, clips), priority=NEIGHBOUR_PRIORITY)

    async def export(self, export_id: int) -> int:
        """Defer the job that writes export ``export_id``; return the job id."""
        job_id: int = await self.app.tasks["export_clip"].defer_async(
            export_id=export_id, enqueued_at=time.time()
        )
        return job_id

    async def depth(self) -> dict[tuple[str, str], int]:
        """Jobs waiting (``todo``) or running (``doing``), by (queue, status)."""
        rows: list[Any] = await self.app.connector.execute_query_all_async(
            """SELECT queue_name, status::text AS status, count(*) AS n
                 FROM procrastinate_jobs WHERE status IN ('todo', 'doing')
                GROUP BY queue_name, status"""
        )
        depth = {(q, s): 0 for q in QUEUES for s in ("todo", "doing")}
        for row in rows:
            depth[(row["queue_name"], row["status"])] = row["n"]
        self.last_depth = depth
        return depth
