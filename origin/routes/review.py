"""The review page: a player, the clip list and the cut-point controls.

One static HTML page; its script reads and edits through the JSON API, so the
page shows exactly what API clients see.
"""

from __future__ import annotations

import html
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from origin.params import parse_id

_TEMPLATE = (resources.files("origin") / "templates" / "review.html").read_text(encoding="utf-8")


def _page(source_id: int | None) -> Response:
    body = _TEMPLATE.replace("{{source_id}}", html.escape(str(source_id or "")))
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


async def index(request: Request) -> Response:
    """GET / — the list of sources."""
    return _page(None)


async def source_page(request: Request) -> Response:
    """GET /review/sources/{id} — one source's clips."""
    return _page(parse_id(request.path_params["source_id"], "source"))
