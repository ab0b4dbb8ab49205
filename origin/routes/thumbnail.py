"""GET/HEAD /videos/clips/{id}/thumbnail/v{n}.jpg: the clip's first frame, public by design.

No token, even with signing on: thumbnails show what a clip list shows anyway,
and signing them would cost a CDN lookup per list entry. Cut through the same
pool (so 429 when saturated) and cache as clips, immutable per version.
"""

from __future__ import annotations

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
from origin.responses import clip_etag
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
    try:
        jpeg_request = clip_request(clip, found.source, "jpeg", state.sources)
        etag = clip_etag(jpeg_request.cache_key, state.ffmpeg_version)
        answer = await answer_without_cutting(
            request, state, found, jpeg_request, etag=etag, media_type=JPEG
        )
        return answer or await answer_with_file(
            request, state, found, jpeg_request, etag=etag, media_type=JPEG
        )
    except PoolError as exc:
        raise pool_error(exc, state.metrics) from None
