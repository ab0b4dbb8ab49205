"""Operator endpoints: readiness, Prometheus metrics, pool status. None takes a pool slot."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from origin.state import AppState, app_state
from pool.child import spawn_child
from pool.ffmpeg_binary import FfmpegNotFound
from pool.procfs import rss_bytes

_NO_STORE = {"Cache-Control": "no-store"}
DB_TIMEOUT_S = 2.0
FFMPEG_TIMEOUT_S = 5.0
#: Re-running ``ffmpeg -version`` on every probe would cost a process spawn.
FFMPEG_CHECK_TTL_S = 30.0


async def _database_problem(state: AppState) -> str | None:
    # asyncpg's own timeouts, not a cancellation from outside: a query
    # cancelled mid-protocol is how a connection ends up in an unknown state.
    try:
        async with state.db_pool.acquire(timeout=DB_TIMEOUT_S) as conn:
            await conn.fetchval("SELECT 1", timeout=DB_TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready", whatever its type
        return f"database: {type(exc).__name__}"
    return None


async def _ffmpeg_problem(state: AppState) -> str | None:
    # The check start-up leaves for after listening: wait for it (it runs
    # `ffmpeg -version` too), and count it as the first of these checks.
    try:
        async with asyncio.timeout(FFMPEG_TIMEOUT_S):
            ffmpeg = await state.ffmpeg.get()
    except TimeoutError:
        return "ffmpeg: still checking at start-up"
    except FfmpegNotFound:
        return "ffmpeg: no runnable ffmpeg"
    checked_at, problem = state.ffmpeg_check
    if checked_at < ffmpeg.checked_at:
        checked_at, problem = state.ffmpeg_check = (ffmpeg.checked_at, None)
    if time.monotonic() - checked_at < FFMPEG_CHECK_TTL_S:
        return problem
    try:
        process = spawn_child(
            [ffmpeg.path, "-hide_banner", "-version"], stdout_pipe=False, stderr=subprocess.DEVNULL
        )
        try:
            async with asyncio.timeout(FFMPEG_TIMEOUT_S):
                status = await process.wait()
        finally:
            if process.returncode is None:
                process.signal_group(signal.SIGKILL)
                await process.wait()
        problem = None if status == 0 else f"ffmpeg: -version exited with {status}"
    except (OSError, TimeoutError) as exc:
        problem = f"ffmpeg: {type(exc).__name__}"
    state.ffmpeg_check = (time.monotonic(), problem)
    return problem


def _cache_problem(state: AppState) -> str | None:
    directory = state.clip_pool.cache.directory
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        return "cache: directory is not writable"
    return None


async def readyz(request: Request) -> Response:
    """200 when PostgreSQL answers, ffmpeg runs and the cache is writable; else 503."""
    state = app_state(request)
    problems = [
        p
        for p in (
            await _database_problem(state),
            await _ffmpeg_problem(state),
            _cache_problem(state),
        )
        if p is not None
    ]
    if problems:
        return JSONResponse(
            {"status": "unavailable", "reasons": problems}, status_code=503, headers=_NO_STORE
        )
    return JSONResponse({"status": "ready"}, headers=_NO_STORE)


async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    body = generate_latest(app_state(request).metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers=_NO_STORE)


async def pool_status(request: Request) -> Response:
    """The pool's live state, as INTERFACE.md describes it, plus background work."""
    state = app_state(request)
    status = state.clip_pool.status()
    jobs = state.jobs.ready()
    depth = jobs.last_depth if jobs is not None else {}
    return JSONResponse(
        {
            "active_processes": status.active,
            "max_processes": status.max,
            "utilization_percent": round(100 * status.active / status.max, 1),
            "waiting": status.waiting,
            # Warm runs hold slots only while no request wants them; they wait apart.
            "background": {
                "active_processes": status.active_background,
                "waiting": status.waiting_background,
            },
            # Jobs in PostgreSQL, fleet-wide, as of the last read (every few seconds).
            "jobs": {
                f"{queue}_{status_name}": count for (queue, status_name), count in depth.items()
            },
            "memory_usage": {
                "total_memory_mb": round(rss_bytes(status.pids) / 2**20, 1),
                "process_count": len(status.pids),
            },
        },
        headers=_NO_STORE,
    )
