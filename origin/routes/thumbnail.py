"""GET/HEAD /videos/clips/{id}/thumbnail/v{n}.jpg: the clip's first frame, public by design.

No token, even with signing on: thumbnails show what a clip list shows anyway,
and signing them would cost a CDN lookup per list entry. Cut through the same
pool (so 429 when saturated) and cache as clips, immutable per version.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from origin.errors import SHORT_MAX_AGE, HttpError
from origin.media import OLD_VERSION_CACHE, clip_request, current_clip, parse_version, pool_error
from origin.params import parse_id
from origin.responses import clip_etag, clip_file_response, not_modified
from origin.state import app_state
from origin.urls import clip_thumbnail_path
from pool.errors import PoolError

JPEG = "image/jpeg"


async def thumbnail(request: Request) -> Response:
    """Serve the current version's thumbnail; redirect older versions; 404 otherwise."""
    state = app_state(request)
    clip_id = parse_id(request.path_params["clip_id"], "clip")
    version = parse_version(request.path_params["version"], ".jpg")
    found = await current_clip(state, clip_id, version)
    clip = found.clip
    if version > clip.version:
        raise HttpError(404, "no such clip version", cache_control=SHORT_MAX_AGE)
    if version < clip.version:
        return RedirectResponse(
            clip_thumbnail_path(clip), status_code=302, headers={"Cache-Control": OLD_VERSION_CACHE}
        )
    pool = state.clip_pool
    try:
        jpeg_request = clip_request(clip, found.source, "jpeg", state.sources)
        etag = clip_etag(jpeg_request.cache_key, state.ffmpeg_version)
        unchanged = not_modified(request, etag=etag, last_modified=clip.updated_at)
        if unchanged is not None:
            return unchanged
        if found.outage is not None:
            request.state.cache = "hit"
            path = found.stale_file(pool, jpeg_request)
            return await clip_file_response(
                request, path, etag=etag, last_modified=clip.updated_at, media_type=JPEG
            )
        fetched = await pool.fetch_file(jpeg_request)
    except PoolError as exc:
        raise pool_error(exc, state.metrics) from None
    request.state.cache = fetched.cache
    return await clip_file_response(
        request, fetched.path, etag=etag, last_modified=clip.updated_at, media_type=JPEG,
        transient=(lambda: pool.discard_transient(fetched)) if fetched.transient else None,
    )  # fmt: skip
