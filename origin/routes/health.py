"""Liveness and readiness."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


async def healthz(request: Request) -> Response:
    """200 while the process runs; does no I/O."""
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})
