"""CORS for the public media routes only (streams and thumbnails), not for the API."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

MEDIA_PREFIX = "/videos/clips/"


class MediaCors:
    """Starlette's CORSMiddleware, applied to paths under ``/videos/clips/``.

    ``Range`` and the conditional headers may be sent cross-origin, and the
    headers a player needs to read a partial answer are exposed.
    """

    def __init__(self, app: ASGIApp, allowed_origins: str) -> None:
        self.app = app
        origins = [o.strip() for o in allowed_origins.split(",") if o.strip()]
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "OPTIONS"],
            allow_headers=["Range", "If-Range", "If-None-Match", "If-Modified-Since"],
            expose_headers=[
                "Content-Range",
                "Content-Length",
                "Accept-Ranges",
                "ETag",
                "X-Request-ID",
            ],
            max_age=86400,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(MEDIA_PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
