"""What the running app holds: built in the lifespan, never at import."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from db.connection import Pool
from origin.clip_rows import ClipRows
from origin.frames import FrameTimesCache
from origin.jobs.queue import JobQueue
from origin.live import ClipEvents
from origin.metrics import Metrics
from origin.settings import Settings
from origin.startup import Deferred, Startup
from pool.clip_pool import ClipPool
from pool.ffmpeg_binary import Ffmpeg
from pool.sources.locations import SourceResolver


@dataclass
class AppState:
    """Long-lived objects shared by every request."""

    settings: Settings
    ffmpeg: Deferred[Ffmpeg]  # found and checked once the server listens
    db_pool: Pool  # asyncpg's, checking idle connections before use
    clip_pool: ClipPool
    metrics: Metrics
    sources: SourceResolver
    clip_rows: ClipRows
    jobs: Deferred[JobQueue]  # opened once the server listens
    startup: Startup  # what start-up left for after the server listens
    clip_events: ClipEvents  # live clip changes (LISTEN), for event streams
    frames: FrameTimesCache  # recent sources' frame times
    # (monotonic time, problem) of the last `ffmpeg -version` readiness check.
    ffmpeg_check: tuple[float, str | None] = (float("-inf"), None)


def app_state(request: Request) -> AppState:
    """The AppState of the app serving ``request``."""
    state: AppState = request.app.state.origin
    return state
