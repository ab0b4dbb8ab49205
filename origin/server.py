"""Run the app under uvicorn."""

from __future__ import annotations

import uvicorn

from origin.app import create_app
from origin.logs import configure_logging
from origin.settings import Settings


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Serve until interrupted."""
    configure_logging(settings.log_format)
    uvicorn.run(
        create_app(settings),
        log_config=None,  # configure_logging routes uvicorn's loggers
        access_log=False,  # RequestObserver logs each request, without query strings
        host=host,
        port=port,
        proxy_headers=True,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
    )
