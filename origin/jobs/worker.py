"""Running jobs: ``origin worker`` on its own, or inside ``origin serve`` (inline).

A standalone worker has its own clip pool (cache under
``$ORIGIN_HOME/worker-cache`` unless ``ORIGIN_CACHE_DIR`` says otherwise) and
serves its metrics on ``--metrics-port``. An inline worker shares the
server's pool, where its cuts yield to requests. Both stop gracefully:
running jobs get the shutdown grace period, then are aborted and retried.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from db.connection import create_pool
from origin.database import resolve_dsn
from origin.jobs import QUEUES
from origin.jobs.maintenance import STALLED_AFTER_HEARTBEATS
from origin.jobs.queue import JobQueue
from origin.jobs.runtime import JobRuntime
from origin.logs import configure_logging
from origin.metrics import Metrics
from origin.settings import Settings
from origin.wiring import build_clip_pool, prepare_store, source_resolver
from pool.ffmpeg_binary import find_ffmpeg

if TYPE_CHECKING:
    from procrastinate import App

log = structlog.get_logger("origin.jobs")

QUEUE_DEPTH_EVERY_S = 5.0
RESTART_PAUSE_S = 5.0


async def work(
    app: App,
    runtime: JobRuntime,
    *,
    queues: Sequence[str] = QUEUES,
    concurrency: int,
    name: str,
) -> None:
    """Run jobs from ``queues`` until cancelled (then stop gracefully).

    A worker that fails (the database went away) starts again after a pause,
    like the server, which keeps running through a database outage.
    """
    heartbeat_s = runtime.settings.worker_heartbeat_s
    while True:
        try:
            await app.run_worker_async(
                queues=list(queues),
                concurrency=concurrency,
                name=name,
                additional_context={"runtime": runtime},
                install_signal_handlers=False,
                update_heartbeat_interval=heartbeat_s,
                stalled_worker_timeout=STALLED_AFTER_HEARTBEATS * heartbeat_s,
                shutdown_graceful_timeout=runtime.settings.shutdown_grace_s,
                delete_jobs="successful",
            )
            return
        except Exception as exc:
            log.warning("worker_failed", error=f"{type(exc).__name__}: {exc}",
                        restart_in_s=RESTART_PAUSE_S)  # fmt: skip
            await asyncio.sleep(RESTART_PAUSE_S)


async def watch_queue_depth(queue: JobQueue, metrics: Metrics) -> None:
    """Refresh the queue-depth gauge from PostgreSQL until cancelled."""
    while True:
        try:
            for (name, status), count in (await queue.depth()).items():
                metrics.queue_depth.labels(name, status).set(count)
        except Exception as exc:  # the database is down: keep the last values
            log.debug("queue_depth_unavailable", error=type(exc).__name__)
        await asyncio.sleep(QUEUE_DEPTH_EVERY_S)


async def stop_tasks(*tasks: asyncio.Task[None]) -> None:
    """Cancel ``tasks`` and wait for them; re-raise the first real failure among them."""
    for task in tasks:
        task.cancel()
    for result in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(result, Exception):
            raise result


async def _until(event: asyncio.Event) -> None:
    await event.wait()


def run_worker(
    settings: Settings,
    *,
    queues: Sequence[str],
    concurrency: int,
    metrics_at: tuple[str, int] | None,
) -> None:
    """``origin worker``: run jobs until SIGINT or SIGTERM; metrics on ``(host, port)``."""
    configure_logging(settings.log_format)
    asyncio.run(_run_worker(settings, queues, concurrency, metrics_at))


async def _run_worker(
    settings: Settings,
    queues: Sequence[str],
    concurrency: int,
    metrics_at: tuple[str, int] | None,
) -> None:
    from origin.jobs.app import build_job_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    metrics = Metrics()
    if metrics_at is not None:
        from prometheus_client import start_http_server

        host, port = metrics_at
        start_http_server(port, addr=host, registry=metrics.registry)
    dsn = await resolve_dsn(settings)
    cache_dir = settings.cache_dir or settings.home / "worker-cache"
    db_pool = await create_pool(dsn, timeout_s=settings.db_timeout_s)
    await asyncio.to_thread(prepare_store, settings)  # an S3 store's client, as the server does
    clip_pool = build_clip_pool(
        settings, find_ffmpeg(settings.ffmpeg), metrics, db_pool, cache_dir=cache_dir
    )
    await clip_pool.start()
    app = build_job_app(dsn, settings)
    runtime = JobRuntime(settings, db_pool, clip_pool, source_resolver(settings), metrics)
    try:
        async with app.open_async():
            queue = JobQueue(app, warming=clip_pool.store is not None)
            log.info("worker_started", queues=list(queues), concurrency=concurrency,
                     store=clip_pool.store.uri if clip_pool.store else None)  # fmt: skip
            jobs = asyncio.create_task(
                work(app, runtime, queues=queues, concurrency=concurrency, name="worker")
            )
            depth = asyncio.create_task(watch_queue_depth(queue, metrics))
            stopping = asyncio.create_task(_until(stop))
            # A worker that fails (its database went away for good) ends the process.
            await asyncio.wait({jobs, stopping}, return_when=asyncio.FIRST_COMPLETED)
            await stop_tasks(jobs, depth, stopping)
    finally:
        await clip_pool.close()
        await db_pool.close()
        log.info("worker_stopped")
