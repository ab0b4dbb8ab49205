"""The Starlette application: routes, error mapping and the lifespan.

The lifespan opens only what a request needs at once; ffmpeg, the job queue
and an S3 store's client are left for after the server listens
(origin/startup.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from db.connection import create_pool
from origin.clip_rows import ClipRows
from origin.cors import MediaCors
from origin.database import resolve_dsn
from origin.errors import SHORT_MAX_AGE, HttpError, error_response
from origin.frames import FrameTimesCache
from origin.heap import settle_heap
from origin.jobs.queue import JobQueue
from origin.jobs.runtime import JobRuntime
from origin.jobs.worker import stop_tasks, watch_queue_depth, work
from origin.live import ClipEvents
from origin.loop_lag import watch_loop_lag
from origin.metrics import Metrics
from origin.observe import RequestObserver
from origin.routes import (
    api,
    assets,
    events,
    exports,
    health,
    review,
    sources,
    status,
    stream,
    thumbnail,
)
from origin.settings import Settings
from origin.startup import Deferred, Startup
from origin.state import AppState
from origin.wiring import build_clip_pool, prepare_store, source_resolver, store_is_s3
from pool.clip_pool import ClipPool
from pool.errors import RunFailed
from pool.ffmpeg_binary import Ffmpeg, FfmpegNotFound, check_ffmpeg
from pool.sources.locations import SourceResolver

if TYPE_CHECKING:
    from procrastinate import App


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError)
    return error_response(
        exc.status, exc.message, cache_control=exc.cache_control, headers=exc.headers
    )


async def _starlette_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as JSON, like every other error."""
    assert isinstance(exc, HTTPException)
    cache = SHORT_MAX_AGE if exc.status_code == 404 else "no-store"
    return error_response(exc.status_code, exc.detail, cache_control=cache, headers=exc.headers)


def _ffmpeg_path(ffmpeg: Deferred[Ffmpeg]) -> Callable[[], Awaitable[str]]:
    """What the clip pool runs: the checked ffmpeg, once the check is done."""

    async def path() -> str:
        try:
            return (await ffmpeg.get()).path
        except FfmpegNotFound as exc:
            raise RunFailed(None, str(exc), message="no runnable ffmpeg") from None

    return path


def _build_job_app(dsn: str, settings: Settings) -> App:
    """procrastinate's app; loading procrastinate and psycopg takes a while: run in a thread."""
    from origin.jobs.app import build_job_app

    return build_job_app(dsn, settings)


async def _open_jobs(
    dsn: str, settings: Settings, clip_pool: ClipPool, sources: SourceResolver,
    metrics: Metrics, db_pool: Any, side_tasks: list[asyncio.Task[None]],
) -> JobQueue:  # fmt: skip
    """Open the job queue, then start what reads it: the depth gauge, an inline worker."""
    job_app = await asyncio.to_thread(_build_job_app, dsn, settings)
    jobs = JobQueue(job_app, warming=clip_pool.store is not None)
    try:
        await jobs.open()
    except BaseException:
        with contextlib.suppress(Exception):
            await jobs.close()
        raise
    side_tasks.append(asyncio.create_task(watch_queue_depth(jobs, metrics)))
    if settings.worker == "inline":
        runtime = JobRuntime(settings, db_pool, clip_pool, sources, metrics)
        side_tasks.append(asyncio.create_task(
            work(job_app, runtime, concurrency=settings.worker_concurrency, name="inline")
        ))  # fmt: skip
    return jobs


def create_app(settings: Settings) -> Starlette:
    """Build the app; databases and processes are opened in its lifespan."""
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        dsn = await resolve_dsn(settings)
        db_pool = await create_pool(dsn, timeout_s=settings.db_timeout_s)
        ffmpeg = Deferred(
            "ffmpeg", partial(asyncio.to_thread, check_ffmpeg, settings.ffmpeg), fatal=True
        )
        clip_pool = build_clip_pool(settings, _ffmpeg_path(ffmpeg), metrics, db_pool)
        await clip_pool.start()
        sources = source_resolver(settings)
        side_tasks = [asyncio.create_task(watch_loop_lag(metrics.loop_lag))]
        jobs = Deferred("jobs", partial(
            _open_jobs, dsn, settings, clip_pool, sources, metrics, db_pool, side_tasks,
        ), fatal=True)  # fmt: skip
        first: list[Deferred[Any]] = [ffmpeg]
        if store_is_s3(settings):
            client = partial(asyncio.to_thread, prepare_store, settings)
            first.append(Deferred("s3 client", client, fatal=True))
        heap = Deferred("heap", settle_heap, fatal=False)
        startup = Startup(first, [jobs], [heap], quiet=lambda: clip_pool.status().in_flight == 0)
        clip_events = ClipEvents(dsn, timeout_s=settings.db_timeout_s, metrics=metrics)
        clip_events.start()  # does not wait for the database
        app.state.origin = AppState(
            settings=settings, ffmpeg=ffmpeg, db_pool=db_pool,
            clip_pool=clip_pool, metrics=metrics, sources=sources, jobs=jobs, startup=startup,
            clip_rows=ClipRows(
                fresh_s=settings.clip_row_ttl_s, stale_s=settings.clip_row_stale_s
            ),
            clip_events=clip_events, frames=FrameTimesCache(),
        )  # fmt: skip
        try:
            yield
        finally:
            # uvicorn has already waited up to ORIGIN_SHUTDOWN_GRACE_S for
            # responses in flight; an inline worker's jobs get the same grace,
            # then whatever ffmpeg still runs is killed.
            await startup.cancel()
            await stop_tasks(*side_tasks)
            await clip_events.close()
            opened = jobs.ready()
            if opened is not None:
                await opened.close()
            await clip_pool.close()
            await db_pool.close()

    routes = [
        Route("/healthz", health.healthz, methods=["GET", "HEAD"]),
        Route("/readyz", status.readyz, methods=["GET", "HEAD"]),
        Route("/metrics", status.metrics),
        Route("/status/pool", status.pool_status),
        Route("/videos/clips/{clip_id}/stream/{version}", stream.stream_clip),
        Route("/videos/clips/{clip_id}/thumbnail/{version}", thumbnail.thumbnail),
        Route("/api/sources", api.list_sources),
        Route("/api/sources/{source_id}", sources.show_source),
        Route("/api/sources/{source_id}/frames", sources.source_frames),
        Route("/api/sources/{source_id}/clips", api.list_source_clips),
        Route("/api/sources/{source_id}/events", events.source_events),
        Route("/api/clips/{clip_id}/export", exports.create_export, methods=["POST"]),
        Route("/api/clips/{clip_id}/{action:str}", api.edit_clip, methods=["POST"]),
        Route("/api/exports/{export_id}", exports.show_export),
        Route("/api/exports/{export_id}/download", exports.download_export),
        Route("/", review.index),
        Route("/assets/{name}", assets.asset, methods=["GET", "HEAD"]),
        Route("/review/sources/{source_id}", review.source_page),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestObserver, metrics=metrics),
            Middleware(MediaCors, allowed_origins=settings.cors_origins),
        ],
        exception_handlers={HttpError: _http_error, HTTPException: _starlette_error},
    )
