"""The procrastinate app: tasks, their queues and retries, and the maintenance tick.

Built per process from the settings (the DSN and the tick's period are only
known at run time). Workers and the processes that only defer jobs build the
same app, so task names and queues always agree.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from procrastinate import App, PsycopgConnector, RetryStrategy

from origin.jobs.exports import export_clip
from origin.jobs.maintenance import maintenance
from origin.jobs.pg_pool import sweeping_pool
from origin.jobs.queue import JobQueue
from origin.jobs.tasks import warm_clip
from origin.settings import Settings

#: A failed warm job is retried a few times (a source briefly unreachable);
#: after that the clip is simply cut on its first request.
WARM_RETRY = RetryStrategy(max_attempts=3, wait=5, exponential_wait=2)
EXPORT_RETRY = RetryStrategy(max_attempts=3, wait=5, exponential_wait=2)


def maintenance_cron(every_s: int) -> str:
    """A cron line ticking every ``every_s``: in seconds (procrastinate's sixth column)
    below a minute, else in whole minutes. Periods that do not divide 60 tick
    unevenly at the top of the minute (or hour), which maintenance tolerates.
    """
    if every_s < 60:
        return f"* * * * * */{every_s}"
    return f"*/{max(1, every_s // 60)} * * * *"


def build_job_app(dsn: str, settings: Settings) -> App:
    """The app for ``dsn``; open it (``open_async``) before deferring or working."""
    connector = PsycopgConnector(
        conninfo=dsn, min_size=0, max_size=4, timeout=10, pool_factory=sweeping_pool
    )
    app = App(connector=connector)
    app.task(name="warm_clip", queue="warm", pass_context=True, retry=WARM_RETRY)(warm_clip)
    app.task(name="export_clip", queue="export", pass_context=True, retry=EXPORT_RETRY)(export_clip)
    tick = app.task(
        name="maintenance", queue="maintenance", pass_context=True,
        queueing_lock="maintenance",
    )(maintenance)  # fmt: skip
    app.periodic(cron=maintenance_cron(settings.maintenance_every_s))(tick)
    return app


@contextlib.asynccontextmanager
async def job_queue(dsn: str, settings: Settings) -> AsyncIterator[JobQueue]:
    """A :class:`JobQueue` for one command: opened for the block, closed after it."""
    queue = JobQueue(build_job_app(dsn, settings), warming=settings.clip_store_spec is not None)
    await queue.open()
    try:
        yield queue
    finally:
        await queue.close()
