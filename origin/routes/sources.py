"""One source: ``GET /api/sources/{id}`` and its frame times, ``GET /api/sources/{id}/frames``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from db import sources as source_store
from db.errors import NotFound
from db.records import SourceRecord
from origin.db_access import connection
from origin.errors import HttpError
from origin.media import pool_error
from origin.params import parse_id
from origin.shapes import source_details_json
from origin.state import AppState, app_state
from pool.errors import PoolError
from pool.sources.frames import FramesUnsupported

#: A source's frame times never change (its identity pins its bytes); the
#: page's own reloads may reuse them, shared caches need not hold them.
FRAMES_CACHE = "private, max-age=3600"


async def requested_source(
    request: Request, state: AppState, *, cache_control: str = "no-store"
) -> SourceRecord:
    """The source named by the path's ``{source_id}``; 404 (with ``cache_control``) if none."""
    source_id = parse_id(request.path_params["source_id"], "source")
    async with connection(state) as conn:
        try:
            return await source_store.get_source(conn, source_id)
        except NotFound:
            raise HttpError(404, "no such source", cache_control=cache_control) from None


async def show_source(request: Request) -> Response:
    """GET /api/sources/{id}"""
    state = app_state(request)
    source = await requested_source(request, state)
    return JSONResponse(source_details_json(source), headers={"Cache-Control": "no-store"})


async def source_frames(request: Request) -> Response:
    """GET /api/sources/{id}/frames: ``{"times": [...]}``, every frame's start (seconds).

    Read from the source's index (origin/frames.py): 503 while the source
    cannot be read (gone, changed, S3 unreachable), like a clip that must be
    cut; 422 for an index this reader does not handle (fragmented MP4).
    """
    state = app_state(request)
    source = await requested_source(request, state)
    try:
        frames = await state.frames.get(source, state.sources)
    except PoolError as exc:
        raise pool_error(exc, state.metrics) from None
    except FramesUnsupported as exc:
        raise HttpError(422, f"frame times cannot be read from this source: {exc}") from None
    return Response(
        frames.body, media_type="application/json", headers={"Cache-Control": FRAMES_CACHE}
    )
