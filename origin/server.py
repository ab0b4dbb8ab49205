"""Run the app under uvicorn."""

from __future__ import annotations

import uvicorn

from origin.app import create_app
from origin.settings import Settings


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Serve until interrupted."""
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=True,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
    )
