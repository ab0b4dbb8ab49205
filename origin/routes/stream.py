"""GET/HEAD /videos/clips/{id}/stream/v{n}: a clip as a standalone MP4 file."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from origin.errors import SHORT_MAX_AGE, HttpError
from origin.media import (
    OLD_VERSION_CACHE,
    answer_with_file,
    answer_without_cutting,
    clip_request,
    current_clip,
    parse_version,
    pool_error,
)
from origin.params import parse_id
from origin.responses import MP4, clip_etag, clip_file_response, clip_stream_response
from origin.signing import sign_path_until, verify
from origin.state import AppState, app_state
from origin.urls import clip_stream_path
from pool.clip_pool import ClipStream
from pool.errors import PoolError

CDN_SECRET_HEADER = "x-origin-verify"


def _check_token(request: Request, state: AppState) -> str | None:
    """Verify the URL's token when signing is on; return its ``exp`` for redirects."""
    keys = state.settings.signing_key_list
    if not keys:
        return None
    cdn_secret = state.settings.cdn_secret
    if cdn_secret is not None:
        # CloudFront checked the token at the edge and, with the query string
        # out of the cache key, does not forward it: it vouches with a custom
        # origin header instead.
        given = request.headers.get(CDN_SECRET_HEADER, "")
        if hmac.compare_digest(given.encode(), cdn_secret.encode()):
            return None
    exp, sig = request.query_params.get("exp"), request.query_params.get("sig")
    problem = verify(request.url.path, exp, sig, keys)
    if problem is not None:
        raise HttpError(403, problem)
    return exp


async def stream_clip(request: Request) -> Response:
    """Serve the clip's current version; redirect older versions; 404 otherwise."""
    state = app_state(request)
    clip_id = parse_id(request.path_params["clip_id"], "clip")
    version = parse_version(request.path_params["version"])
    exp = _check_token(request, state)
    found = await current_clip(state, clip_id, version)
    clip = found.clip
    if version > clip.version:
        raise HttpError(404, "no such clip version", cache_control=SHORT_MAX_AGE)
    if version < clip.version:
        location = clip_stream_path(clip)
        if exp is not None:
            location = sign_path_until(location, state.settings.signing_key_list[0], int(exp))
        return RedirectResponse(
            location, status_code=302, headers={"Cache-Control": OLD_VERSION_CACHE}
        )

    pool = state.clip_pool
    pipe = state.settings.stream_mode == "pipe"
    try:
        if pipe:
            wanted = clip_request(clip, found.source, "pipe", state.sources)
        else:
            wanted = clip_request(
                clip, found.source, "file", state.sources, state.settings.precision
            )
        etag = clip_etag(wanted.cache_key, state.ffmpeg_version)
        answer = await answer_without_cutting(
            request, state, found, wanted, etag=etag, media_type=MP4
        )
        if answer is not None:
            return answer
        # Range and HEAD answers need the whole file's length: wait for it.
        if not pipe or "range" in request.headers or request.method == "HEAD":
            return await answer_with_file(request, state, found, wanted, etag=etag, media_type=MP4)
        stream = pool.stream(wanted)
        await stream.open()
    except PoolError as exc:
        raise pool_error(exc, state.metrics) from None
    if stream.path is not None:  # already cut: serve it as a file
        request.state.cache = "hit"
        path = stream.path
        stream.close()
        return await clip_file_response(request, path, etag=etag, last_modified=clip.updated_at)
    request.state.cache = "miss"
    return clip_stream_response(_body(stream))


async def _body(stream: ClipStream) -> AsyncIterator[bytes]:
    # uvicorn cancels this generator's task when the client leaves and never
    # calls aclose(); closing in `finally` kills a run nobody else waits for.
    try:
        async for chunk in stream:
            yield chunk
    finally:
        stream.close()
