"""What the media routes (stream, thumbnail) share: versions, clip lookup, pool requests."""

from __future__ import annotations

import asyncio
import bisect
import functools
import math
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from db import clips as clip_store
from db.errors import NotFound
from db.records import ClipRecord, SourceRecord
from db.tiling import to_time
from origin.db_access import DatabaseUnavailable, connection
from origin.errors import SHORT_MAX_AGE, HttpError
from origin.metrics import Metrics
from origin.responses import clip_etag, clip_file_response, clip_stream_response, not_modified
from origin.state import AppState
from pool.clip_pool import ClipPool, ClipStream
from pool.errors import PoolClosed, PoolError, Saturated, SourceUnavailable
from pool.ffmpeg_binary import FfmpegNotFound
from pool.request import ClipRequest, Mode, Precision
from pool.sources.locations import SourceError, SourceResolver

_VERSION = re.compile(r"v([0-9]{1,10})")
OLD_VERSION_CACHE = "public, max-age=60"
#: The same redirect carrying one viewer's token: no shared cache may keep it.
TOKENED_REDIRECT_CACHE = "private, max-age=60"
MAX_VERSION = 2**31 - 1  # PostgreSQL integer
THUMBNAIL_READ_S = 0.5


def parse_version(raw: str, suffix: str = "") -> int:
    """``v<n>`` (followed by ``suffix``) from a path segment; 400 or 404 otherwise."""
    match = _VERSION.fullmatch(raw.removesuffix(suffix)) if raw.endswith(suffix) else None
    if match is None:
        raise HttpError(400, "malformed version: expected v<number>" + suffix)
    version = int(match.group(1))
    if version == 0 or version > MAX_VERSION:
        raise HttpError(404, "no such clip version", cache_control=SHORT_MAX_AGE)
    return version


@dataclass(frozen=True)
class ClipLookup:
    """The clip and its source; ``outage`` is set when they come from a stale row."""

    clip: ClipRecord
    source: SourceRecord
    outage: DatabaseUnavailable | None = None

    def stale_file(self, pool: ClipPool, request: ClipRequest) -> Path:
        """For a stale lookup: the clip's cached file, or the outage's 503 if it has none.

        A stale row only stands in for the database to serve a clip that is
        already on disk: no new cut on rows nobody can confirm.
        """
        assert self.outage is not None
        path = pool.cached(request)
        if path is None:
            raise self.outage
        return path


async def current_clip(state: AppState, clip_id: int, version: int) -> ClipLookup:
    """The clip and its source as they are now, as far as this replica can tell.

    A row read within the last few seconds answers without the database
    (origin/clip_rows.py); while the database is down an older row still
    answers, with the ``outage`` set. 404 for an unknown clip, 503 when the
    database cannot answer and no row can stand in.
    """
    rows = state.clip_rows
    fresh = rows.fresh(clip_id, version)
    if fresh is not None:
        return ClipLookup(fresh.clip, fresh.source)
    try:
        async with connection(state) as conn:
            clip, source = await clip_store.get_clip_with_source(conn, clip_id)
    except NotFound:
        rows.forget([clip_id])
        raise HttpError(404, "no such clip", cache_control=SHORT_MAX_AGE) from None
    except DatabaseUnavailable as outage:
        stale = rows.stale(clip_id, version)
        if stale is None:
            raise
        return ClipLookup(stale.clip, stale.source, outage)
    rows.remember(clip, source)
    return ClipLookup(clip, source)


def keyframe_at_or_before(keyframes: Sequence[float], t: Decimal) -> Decimal | None:
    """The last keyframe time <= ``t``: where a stream copy cut at ``t`` really starts."""
    index = bisect.bisect_right(keyframes, float(t) + 1e-9)
    return None if index == 0 else to_time(keyframes[index - 1])


async def prepare_source(sources: SourceResolver, uri: str) -> None:
    """Before :func:`clip_request` on the event loop: make what opening the source
    needs, in a thread, if it is not made yet (the S3 client; boto3 loads for a
    few hundred ms, which no other request should wait for)."""
    if not sources.ready(uri):
        await asyncio.to_thread(sources.prepare, uri)


def clip_request(
    clip: ClipRecord,
    source: SourceRecord,
    mode: Mode,
    sources: SourceResolver,
    precision: Precision = "editlist",
) -> ClipRequest:
    """What the pool needs to cut ``clip``; the pool refuses a source whose bytes changed.

    Blocks while an S3 client is made: :func:`prepare_source` first.
    """
    try:
        location = sources.open(source.uri)
    except SourceError as exc:
        raise SourceUnavailable(detail=str(exc)) from None
    byte_rate = source.size_bytes / float(source.duration)
    keyframe = keyframe_at_or_before(source.keyframes, clip.start)
    # A run reads from the keyframe before the start: to the end for a clip,
    # only a frame or so past the start for a thumbnail.
    pre_roll = float(clip.start - keyframe) if keyframe is not None else 0.0
    read_s = pre_roll + (THUMBNAIL_READ_S if mode == "jpeg" else float(clip.duration))
    return ClipRequest(
        clip_id=clip.id,
        version=clip.version,
        source_input=location.ffmpeg_input(),
        source_identity=source.identity,
        start=clip.start,
        end=clip.end,
        mode=mode,
        keyframe_start=keyframe,
        source_byte_rate=byte_rate,
        input_options=location.input_options(
            source.identity, expected_bytes=round(read_s * byte_rate)
        ),
        precision=precision,
        # Cutting a different file than the one probed would serve wrong
        # frames under an immutable URL.
        source_check=functools.partial(location.check_identity, source.identity),
    )


async def _answer_without_cutting(
    request: Request, state: AppState, found: ClipLookup, wanted: ClipRequest, *,
    etag: str, media_type: str,
) -> Response | None:  # fmt: skip
    """The answer that needs no cut: 304, or (database down) the cached file; else None."""
    last_modified = found.clip.updated_at
    unchanged = not_modified(request, etag=etag, last_modified=last_modified)
    if unchanged is not None:
        return unchanged
    if found.outage is None:
        return None
    request.state.cache = "hit"
    path = found.stale_file(state.clip_pool, wanted)
    return await clip_file_response(
        request, path, etag=etag, last_modified=last_modified, media_type=media_type
    )


async def _answer_from_pool(
    request: Request, state: AppState, found: ClipLookup, wanted: ClipRequest, *,
    etag: str, media_type: str,
) -> Response:  # fmt: skip
    """Ask the pool for the clip (one call) and turn its answer into a response.

    A file is served with Range/HEAD semantics (a transient one, below the
    disk floor, is deleted after the answer); a pipe-mode stream is sent as
    ffmpeg writes it. Range and HEAD need the whole file's length.
    """
    pool = state.clip_pool
    need_length = "range" in request.headers or request.method == "HEAD"
    answer = await pool.clip(wanted, need_length=need_length)
    if isinstance(answer, ClipStream):
        request.state.cache = "miss"
        return clip_stream_response(_stream_body(answer))
    request.state.cache = answer.cache
    return await clip_file_response(
        request, answer.path, etag=etag, last_modified=found.clip.updated_at,
        media_type=media_type,
        transient=(lambda: pool.discard_transient(answer)) if answer.transient else None,
    )  # fmt: skip


async def _stream_body(stream: ClipStream) -> AsyncIterator[bytes]:
    # uvicorn cancels this generator's task when the client leaves and never
    # calls aclose(); closing in `finally` kills a run nobody else waits for.
    try:
        async for chunk in stream:
            yield chunk
    finally:
        stream.close()


async def ffmpeg_version(state: AppState) -> str:
    """The ``-version`` line of the ffmpeg that cuts (part of every ETag), once it is checked.

    503 when there is no runnable ffmpeg (the server is stopping then: it
    cannot cut anything).
    """
    try:
        return (await state.ffmpeg.get()).version
    except FfmpegNotFound:
        raise HttpError(503, "no runnable ffmpeg", headers={"Retry-After": "5"}) from None


async def serve_clip(
    request: Request, state: AppState, found: ClipLookup, form: Mode, *,
    media_type: str, precision: Precision = "editlist",
) -> Response:  # fmt: skip
    """The answer for the current version of ``found``'s clip, in ``form``.

    A 304 or (database down) the cached file when no cut is needed, else one
    call to the pool; pool failures become their status codes.
    """
    try:
        await prepare_source(state.sources, found.source.uri)
        wanted = clip_request(found.clip, found.source, form, state.sources, precision)
        etag = clip_etag(wanted.cache_key, await ffmpeg_version(state))
        answer = await _answer_without_cutting(
            request, state, found, wanted, etag=etag, media_type=media_type
        )
        return answer or await _answer_from_pool(
            request, state, found, wanted, etag=etag, media_type=media_type
        )
    except PoolError as exc:
        raise pool_error(exc, state.metrics) from None


def pool_error(exc: PoolError, metrics: Metrics) -> HttpError:
    """The status a client sees for a pool failure. Nothing here is cacheable."""
    if isinstance(exc, Saturated):
        metrics.rejections.inc()
        retry = str(max(1, math.ceil(exc.retry_after_s)))
        return HttpError(429, str(exc), headers={"Retry-After": retry})
    if isinstance(exc, SourceUnavailable | PoolClosed):
        return HttpError(503, str(exc), headers={"Retry-After": "5"})
    return HttpError(500, str(exc))
