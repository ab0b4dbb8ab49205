"""GET/HEAD /videos/clips/{id}/stream/v{n}: a clip as a standalone MP4 file."""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from db import clips as clip_store
from db import sources as source_store
from db.errors import NotFound
from db.records import ClipRecord, SourceRecord
from db.tiling import to_time
from origin.errors import SHORT_MAX_AGE, HttpError
from origin.metrics import Metrics
from origin.params import parse_id
from origin.responses import clip_etag, clip_file_response, clip_stream_response
from origin.signing import sign_path_until, verify
from origin.state import AppState, app_state
from origin.urls import clip_stream_path
from pool.clip_pool import ClipStream
from pool.errors import CacheFull, PoolClosed, PoolError, Saturated, SourceUnavailable
from pool.request import ClipRequest, Mode
from pool.sources import SourceError, SourceResolver

_VERSION = re.compile(r"v([0-9]{1,10})")
OLD_VERSION_CACHE = "public, max-age=60"
MAX_VERSION = 2**31 - 1  # PostgreSQL integer


def _parse_version(raw: str) -> int:
    match = _VERSION.fullmatch(raw)
    if match is None:
        raise HttpError(400, "malformed version: expected v<number>")
    version = int(match.group(1))
    if version == 0 or version > MAX_VERSION:
        raise HttpError(404, "no such clip version", cache_control=SHORT_MAX_AGE)
    return version


def _check_token(request: Request, state: AppState) -> str | None:
    """Verify the URL's token when signing is on; return its ``exp`` for redirects."""
    keys = state.settings.signing_key_list
    if not keys:
        return None
    exp, sig = request.query_params.get("exp"), request.query_params.get("sig")
    problem = verify(request.url.path, exp, sig, keys)
    if problem is not None:
        raise HttpError(403, problem)
    return exp


async def _current_clip(state: AppState, clip_id: int) -> tuple[ClipRecord, SourceRecord]:
    async with state.db_pool.acquire() as conn:
        try:
            clip = await clip_store.get_clip(conn, clip_id)
            source = await source_store.get_source(conn, clip.source_id)
        except NotFound:
            raise HttpError(404, "no such clip", cache_control=SHORT_MAX_AGE) from None
    return clip, source


def keyframe_at_or_before(keyframes: Sequence[float], t: Decimal) -> Decimal | None:
    """The last keyframe time <= ``t``: where a stream copy cut at ``t`` really starts."""
    index = bisect.bisect_right(keyframes, float(t) + 1e-9)
    return None if index == 0 else to_time(keyframes[index - 1])


def clip_request(
    clip: ClipRecord, source: SourceRecord, mode: Mode, sources: SourceResolver
) -> ClipRequest:
    """What the pool needs to cut ``clip``; refuses a source whose bytes changed."""
    try:
        location = sources.open(source.uri)
        # Cutting a different file than the one probed would serve wrong frames
        # under an immutable URL.
        location.check_identity(source.identity)
    except SourceError as exc:
        raise SourceUnavailable(detail=str(exc)) from None
    byte_rate = source.size_bytes / float(source.duration)
    return ClipRequest(
        clip_id=clip.id,
        version=clip.version,
        source_input=location.ffmpeg_input(),
        source_identity=source.identity,
        start=clip.start,
        end=clip.end,
        mode=mode,
        keyframe_start=keyframe_at_or_before(source.keyframes, clip.start),
        source_byte_rate=byte_rate,
        input_options=location.input_options(
            source.identity, expected_bytes=round(float(clip.duration) * byte_rate)
        ),
    )


def pool_error(exc: PoolError, metrics: Metrics) -> HttpError:
    """The status a client sees for a pool failure. Nothing here is cacheable."""
    if isinstance(exc, Saturated):
        metrics.rejections.inc()
        retry = str(max(1, math.ceil(exc.retry_after_s)))
        return HttpError(429, str(exc), headers={"Retry-After": retry})
    if isinstance(exc, SourceUnavailable | PoolClosed):
        return HttpError(503, str(exc), headers={"Retry-After": "5"})
    return HttpError(500, str(exc))


async def stream_clip(request: Request) -> Response:
    """Serve the clip's current version; redirect older versions; 404 otherwise."""
    state = app_state(request)
    clip_id = parse_id(request.path_params["clip_id"], "clip")
    version = _parse_version(request.path_params["version"])
    exp = _check_token(request, state)
    clip, source = await _current_clip(state, clip_id)
    if version > clip.version:
        raise HttpError(404, "no such clip version", cache_control=SHORT_MAX_AGE)
    if version < clip.version:
        location = clip_stream_path(clip)
        if exp is not None:
            location = sign_path_until(location, state.settings.signing_key_list[0], int(exp))
        return RedirectResponse(
            location, status_code=302, headers={"Cache-Control": OLD_VERSION_CACHE}
        )

    mode = state.settings.stream_mode
    last_modified = clip.updated_at

    def etag(clip_request: ClipRequest) -> str:
        return clip_etag(clip_request.cache_key, state.ffmpeg_version)

    pool = state.clip_pool
    try:
        if mode == "file":
            file_request = clip_request(clip, source, "file", state.sources)
            try:
                fetched = await pool.fetch_file(file_request)
            except CacheFull:
                # No disk to store it: stream it uncached rather than fail.
                stream = pool.stream(clip_request(clip, source, "pipe", state.sources))
                await stream.open()
                request.state.cache = "uncached"
                return clip_stream_response(_body(stream), cacheable=False, headers={})
            request.state.cache = fetched.cache
            return await clip_file_response(
                request, fetched.path, etag=etag(file_request), last_modified=last_modified
            )

        pipe_request = clip_request(clip, source, "pipe", state.sources)
        if "range" in request.headers or request.method == "HEAD":
            # Range and HEAD answers need the whole file's length: wait for it.
            fetched = await pool.fetch_file(pipe_request)
            request.state.cache = fetched.cache
            return await clip_file_response(
                request, fetched.path, etag=etag(pipe_request), last_modified=last_modified
            )
        stream = pool.stream(pipe_request)
        await stream.open()
    except PoolError as exc:
        raise pool_error(exc, state.metrics) from None
    if stream.path is not None:  # already cut: serve it as a file
        request.state.cache = "hit"
        path = stream.path
        stream.close()
        return await clip_file_response(
            request, path, etag=etag(pipe_request), last_modified=last_modified
        )
    request.state.cache = "miss"
    return clip_stream_response(_body(stream), cacheable=True, headers={})


async def _body(stream: ClipStream) -> AsyncIterator[bytes]:
    # uvicorn cancels this generator's task when the client leaves and never
    # calls aclose(); closing in `finally` kills a run nobody else waits for.
    try:
        async for chunk in stream:
            yield chunk
    finally:
        stream.close()
