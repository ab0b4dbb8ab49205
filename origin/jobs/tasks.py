"""The warm job: put one clip version in the shared store before anyone asks for it.

It cuts through the worker's clip pool as a background claim, so in a
server that runs jobs inline a request never waits behind it: the request
takes the slot back and the job waits for an idle one. A version that was
superseded or removed before the job ran, or that is already stored, is
skipped without a cut.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import structlog

from db import clips as clip_store
from db.errors import NotFound
from db.records import ClipRecord
from origin.jobs.runtime import JobRuntime, recorded
from origin.media import clip_request, prepare_source
from origin.urls import clip_stream_url
from pool.errors import Preempted

log = structlog.get_logger("origin.jobs")

#: How long a warm job that yielded its slot waits before it queues again.
YIELD_PAUSE_S = 0.2
WARM_URL_TIMEOUT_S = 60.0


@recorded("warm")
async def warm_clip(runtime: JobRuntime, clip_id: int, version: int) -> str:
    """Cut ``clip_id`` at ``version`` into the shared store; ``done`` or ``skipped``."""
    settings = runtime.settings
    async with runtime.db_pool.acquire() as conn:
        try:
            clip, source = await clip_store.get_clip_with_source(conn, clip_id)
        except NotFound:
            return "skipped"
    if clip.version != version:
        return "skipped"  # superseded: the edit deferred a job for the new version
    await prepare_source(runtime.sources, source.uri)
    wanted = clip_request(clip, source, settings.stream_mode, runtime.sources, settings.precision)
    started = time.monotonic()
    while True:
        try:
            cut = await runtime.clip_pool.warm(wanted)
            break
        except Preempted:
            runtime.metrics.warm_yields.inc()
            await asyncio.sleep(YIELD_PAUSE_S)
    if not cut:
        return "skipped"
    elapsed = round(time.monotonic() - started, 3)
    log.info("warm_done", clip_id=clip_id, version=version, seconds=elapsed)
    if settings.warm_url_base:
        await _request_through_cdn(runtime, clip)
    return "done"


async def _request_through_cdn(runtime: JobRuntime, clip: ClipRecord) -> None:
    """GET the clip through the CDN so the edge holds it too; failures are only logged."""
    settings = runtime.settings
    assert settings.warm_url_base is not None
    url = settings.warm_url_base.rstrip("/") + clip_stream_url(clip, settings.signing_key_list)
    try:
        async with (
            httpx.AsyncClient(timeout=WARM_URL_TIMEOUT_S) as client,
            client.stream("GET", url) as response,
        ):
            async for _ in response.aiter_raw():
                pass  # the edge caches a response it has sent whole
        log.info("warm_cdn", clip_id=clip.id, status=response.status_code,
                 cache=response.headers.get("x-cache"))  # fmt: skip
    except httpx.HTTPError as exc:
        log.warning("warm_cdn_failed", clip_id=clip.id, error=type(exc).__name__)
