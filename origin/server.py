"""Run the app under uvicorn."""

from __future__ import annotations

import contextlib
import socket
import sys

import uvicorn
from starlette.applications import Starlette

from origin.app import create_app
from origin.logs import configure_logging
from origin.settings import Settings
from origin.state import AppState

#: uvicorn's exit status when the app does not start (its lifespan failed).
STARTUP_FAILURE = 3


class _Server(uvicorn.Server):
    """uvicorn's server, which starts the app's deferred start-up once it listens.

    A fatal failure there (no runnable ffmpeg) stops the server, and
    :func:`serve` raises it once uvicorn has shut down.
    """

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self._app = app
        self.fatal: BaseException | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            state: AppState = self._app.state.origin
            state.startup.begin(on_fatal=self._stop)

    def _stop(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
        self.should_exit = True


def uvicorn_config(app: Starlette, settings: Settings, *, host: str, port: int) -> uvicorn.Config:
    """How uvicorn runs ``app``."""
    return uvicorn.Config(
        app,
        log_config=None,  # configure_logging routes uvicorn's loggers
        access_log=False,  # RequestObserver logs each request, without query strings
        host=host,
        port=port,
        proxy_headers=True,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
        ws="none",  # no WebSocket routes: do not load a WebSocket implementation
    )


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Serve until interrupted; raise what stopped the start-up (FfmpegNotFound)."""
    configure_logging(settings.log_format)
    app = create_app(settings)
    server = _Server(uvicorn_config(app, settings, host=host, port=port), app)
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: Ctrl-C is a way to stop
        server.run()
    if server.fatal is not None:
        raise server.fatal
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # as uvicorn.run: the lifespan failed, and uvicorn said why
