"""GET/HEAD /videos/clips/{id}/stream/v{n}: a clip as a standalone MP4 file."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from origin.errors import SHORT_MAX_AGE, HttpError
from origin.media import (
    OLD_VERSION_CACHE,
    TOKENED_REDIRECT_CACHE,
    current_clip,
    parse_version,
    serve_clip,
)
from origin.params import parse_id
from origin.responses import MP4
from origin.signing import sign_path_until, verify
from origin.state import AppState, app_state
from origin.urls import clip_stream_path

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
        cache_control = OLD_VERSION_CACHE
        if exp is not None:
            location = sign_path_until(location, state.settings.signing_key_list[0], int(exp))
            cache_control = TOKENED_REDIRECT_CACHE
        return RedirectResponse(location, status_code=302, headers={"Cache-Control": cache_control})

    # The settings choose the clip's form; the pool decides file or stream.
    settings = state.settings
    return await serve_clip(
        request, state, found, settings.stream_mode, media_type=MP4, precision=settings.precision
    )
