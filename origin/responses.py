"""Clip responses that behave like a static MP4 file on any web server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    MalformedRangeHeader,
    RangeNotSatisfiable,
    Response,
    StreamingResponse,
)
from starlette.types import Receive, Scope, Send

from origin.errors import error_response
from origin.page_cache import PageCacheFile

IMMUTABLE = "public, max-age=31536000, immutable"
MP4 = "video/mp4"


class ClipFileResponse(FileResponse):
    """Starlette's FileResponse with 1 MiB reads instead of 64 KiB, reads from the page
    cache in the event loop, and an ``after`` hook.

    uvicorn has no sendfile, so every chunk is a read and a send; larger
    chunks serve a 40 MB clip about three times faster (docs/benchmarks.md).
    What the kernel has in memory is read without a thread hop
    (:mod:`origin.page_cache`). ``after`` runs once the response is over,
    however it ended (sent, client gone, cancelled): a transient clip is
    deleted there.
    """

    chunk_size = 1024 * 1024

    def __init__(self, *args: Any, after: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after = after

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[PageCacheFile]:  # type: ignore[override]
        # Starlette opens every file it sends here (1.x); a version that stops doing so
        # sends through its own threads again (tests/unit/test_page_cache.py notices).
        file = PageCacheFile(Path(self.path))
        try:
            yield file
        finally:
            file.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.after is not None:
                self.after()  # synchronous: a cancelled task cannot await any more


def clip_etag(cache_key: str, ffmpeg_version: str) -> str:
    """A strong ETag for a clip's bytes without reading them.

    The bytes are a deterministic function of the cache key (clip, version,
    mode, source identity, span, recipe) and the ffmpeg build, which the tests
    check across runs and replicas; hashing those is as strong as hashing the
    content and costs nothing on a cold request.
    """
    digest = hashlib.sha256(f"{cache_key}\n{ffmpeg_version}".encode()).hexdigest()
    return f'"{digest[:32]}"'


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match requires."""
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip() for t in if_none_match.split(",")]
    return any(t.removeprefix("W/") == etag for t in tags)


def not_modified(request: Request, *, etag: str, last_modified: datetime) -> Response | None:
    """304 when the request's If-None-Match names ``etag``, else None.

    A clip's ETag is known before it is cut (:func:`clip_etag`), so a
    revalidation never waits for ffmpeg.
    """
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is None or not _etag_matches(if_none_match, etag):
        return None
    return Response(status_code=304, headers=_common_headers(etag, last_modified, IMMUTABLE))


def _common_headers(etag: str, last_modified: datetime, cache_control: str) -> dict[str, str]:
    return {
        "ETag": etag,
        "Last-Modified": format_datetime(last_modified, usegmt=True),
        "Cache-Control": cache_control,
        "X-Content-Type-Options": "nosniff",
    }


async def clip_file_response(
    request: Request,
    path: Path,
    *,
    etag: str,
    last_modified: datetime,
    media_type: str = MP4,
    transient: Callable[[], None] | None = None,
) -> Response:
    """Serve a finished clip with Range, If-Range and HEAD semantics.

    If-None-Match is the caller's to answer first (:func:`not_modified`): the
    ETag is known before any file is. Range handling itself is Starlette's
    ``FileResponse``; here it is only checked first so that a bad Range gets
    this service's JSON error shape.
    A ``transient`` file (not in the cache) is served with ``no-store`` and
    deleted by calling ``transient`` once the answer is over.
    """
    try:
        # In the event loop: the clip cache's lookup has just read the same inode.
        stat = os.stat(path)
    except BaseException:
        if transient is not None:
            transient()
        raise
    common = _common_headers(etag, last_modified, "no-store" if transient else IMMUTABLE)
    answer = _range_error(request, stat.st_size)
    if answer is not None:
        if transient is not None:
            transient()
        return answer
    return ClipFileResponse(
        path, media_type=media_type, headers=common, stat_result=stat, after=transient
    )


def _range_error(request: Request, size: int) -> Response | None:
    """The 400 or 416 a request's Range header gets instead of the file, if any."""
    range_header = request.headers.get("range")
    if range_header is None:
        return None
    try:
        # Starlette's own parser, so the check and the response agree.
        FileResponse._parse_range_header(range_header, size)
    except MalformedRangeHeader as exc:
        return error_response(400, f"malformed Range header: {exc.content}")
    except RangeNotSatisfiable:
        return error_response(
            416, "range not satisfiable", headers={"Content-Range": f"bytes */{size}"}
        )
    return None


def clip_stream_response(body: AsyncIterator[bytes]) -> Response:
    """A clip sent while it is cut: chunked, no length known yet."""
    return StreamingResponse(
        body,
        media_type=MP4,
        headers={
            "Cache-Control": IMMUTABLE,
            "X-Content-Type-Options": "nosniff",
        },
    )
