"""The review page's script and stylesheet under content-hashed names, cached for a year.

A name carries the first 12 hex digits of its file's SHA-256
(``review.3f2a9c1b7d44.js``): a new release changes the name, so browsers and
the CDN may keep every name forever (``immutable``). The files are read once,
by the first request that needs them (not at start-up); the pages link them
through :func:`asset_urls`.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from origin.errors import SHORT_MAX_AGE, HttpError
from origin.responses import IMMUTABLE

_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    """One static file as served."""

    body: bytes
    media_type: str
    etag: str


@functools.cache
def _load() -> tuple[dict[str, Asset], dict[str, str]]:
    from importlib import resources

    by_name: dict[str, Asset] = {}
    urls: dict[str, str] = {}
    for file in (resources.files("origin") / "static").iterdir():
        stem, dot, ext = file.name.rpartition(".")
        if not dot or "." + ext not in _TYPES:
            continue
        body = file.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:12]
        name = f"{stem}.{digest}.{ext}"
        by_name[name] = Asset(body, _TYPES["." + ext], f'"{digest}"')
        urls[file.name] = f"/assets/{name}"
    return by_name, urls


def asset_urls() -> dict[str, str]:
    """Each file's URL by its plain name: ``review.js`` → ``/assets/review.<hash>.js``."""
    return _load()[1]


async def asset(request: Request) -> Response:
    """GET /assets/{name}: a hashed static file, or 404."""
    found = _load()[0].get(request.path_params["name"])
    if found is None:
        raise HttpError(404, "no such asset", cache_control=SHORT_MAX_AGE)
    headers = {"Cache-Control": IMMUTABLE, "ETag": found.etag}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)
