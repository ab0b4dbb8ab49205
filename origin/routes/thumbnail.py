"""GET/HEAD /videos/clips/{id}/thumbnail/v{n}.jpg: the clip's first frame, public by design.

No token, even with signing on: thumbnails show what a clip list shows anyway,
and signing them would cost a CDN lookup per list entry. Cut through the same
pool (so 429 when saturated) and cache as clips, immutable per version.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from origin.errors import SHORT_MAX_AGE, HttpError
from origin.media import OLD_VERSION_CACHE, current_clip, parse_version, serve_clip
from origin.params import parse_id
from origin.state import app_state
from origin.urls import clip_thumbnail_path

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
    return await serve_clip(request, state, found, "jpeg", media_type=JPEG)
