"""JSON API: sources, clips and cut-point edits."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from db import clips as clip_store
from db import sources as source_store
from db.errors import EditRefused, NotFound
from db.records import ClipRecord, EditResult, SourceRecord
from db.tiling import to_time
from origin.cut_facts import cut_facts, keyframe_micros
from origin.db_access import DatabaseUnavailable, connection
from origin.errors import HttpError
from origin.frames import FrameTimes
from origin.params import json_body, parse_id
from origin.routes.sources import requested_source
from origin.shapes import clip_details_json, source_details_json
from origin.state import AppState, app_state
from pool.errors import PoolError
from pool.sources.frames import FramesUnsupported

_NO_STORE = {"Cache-Control": "no-store"}
log = structlog.get_logger("origin")

#: A clip list waits this long for its source's frame times (read once, then
#: kept); past it, or when they cannot be read, clips say ``"frames": null``.
FRAMES_WAIT_S = 2.0


async def list_sources(request: Request) -> Response:
    """GET /api/sources"""
    state = app_state(request)
    async with connection(state) as conn:
        sources = await source_store.list_sources(conn)
    return JSONResponse([source_details_json(s) for s in sources], headers=_NO_STORE)


async def _frame_times(state: AppState, source: SourceRecord) -> FrameTimes | None:
    """The source's frame times if they can be had within :data:`FRAMES_WAIT_S`, else None."""
    try:
        return await state.frames.get(source, state.sources, wait_s=FRAMES_WAIT_S)
    except (PoolError, FramesUnsupported, TimeoutError):
        return None  # the frames route says why; a clip list still answers


async def clips_json(
    state: AppState, source: SourceRecord, clips: Sequence[ClipRecord]
) -> list[dict[str, Any]]:
    """The API's clip objects: :func:`clip_details_json` plus how each clip is cut
    (``frames``, ``cut``, ``reencoded_s``: origin/cut_facts.py)."""
    frames = await _frame_times(state, source) if clips else None
    keyframes = keyframe_micros(source.keyframes)
    keys = state.settings.signing_key_list
    return [
        {
            **clip_details_json(clip, keys),
            **cut_facts(clip, source, frames, settings=state.settings, keyframes=keyframes).json(),
        }
        for clip in clips
    ]


async def list_source_clips(request: Request) -> Response:
    """GET /api/sources/{id}/clips"""
    state = app_state(request)
    source = await requested_source(request, state)
    async with connection(state) as conn:
        clips = await clip_store.list_clips(conn, source.id)
    return JSONResponse(await clips_json(state, source, clips), headers=_NO_STORE)


def require_admin(request: Request, state: AppState) -> None:
    """401 unless the request carries ``ORIGIN_ADMIN_TOKEN`` (when one is set)."""
    token = state.settings.admin_token
    if token is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
        raise HttpError(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


async def _warm_after_edit(state: AppState, result: EditResult) -> None:
    """Queue warm jobs for what the edit changed; the edit stands even if this fails."""
    if not result.changed:
        return
    try:
        async with connection(state) as conn:
            source_clips = await clip_store.list_clips(conn, result.changed[0].source_id)
    except DatabaseUnavailable as exc:  # the edit is committed: a 503 now would invite a retry
        log.warning("warm_after_edit_without_neighbours", error=str(exc))
        source_clips = list(result.changed)  # no neighbours, but the changed clips still
    jobs = await state.jobs.get()
    await jobs.warm_after_edit(result.changed, source_clips)


def _at(body: dict[str, Any]) -> Decimal:
    at = body.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float | str):
        raise HttpError(400, 'body must be {"at": seconds}')
    try:
        return to_time(at, what="at")
    except EditRefused as exc:
        raise HttpError(400, str(exc)) from None


async def edit_clip(request: Request) -> Response:
    """POST /api/clips/{id}/split | merge | move-cut"""
    state = app_state(request)
    require_admin(request, state)
    clip_id = parse_id(request.path_params["clip_id"], "clip")
    action = request.path_params["action"]
    if action not in ("split", "merge", "move-cut"):
        raise HttpError(404, f"no such edit: {action[:40]!r}")
    body = await json_body(request)
    async with connection(state) as conn:
        try:
            result: EditResult
            if action == "split":
                result = await clip_store.split(conn, clip_id, _at(body))
            elif action == "move-cut":
                result = await clip_store.move_cut(conn, clip_id, _at(body))
            else:
                result = await clip_store.merge(conn, clip_id)
        except NotFound as exc:
            raise HttpError(404, str(exc)) from None
        except EditRefused as exc:
            raise HttpError(422, str(exc)) from None
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise HttpError(409, f"refused by the database: {exc}") from None
    # This replica's stream routes must not serve the old rows for a moment.
    state.clip_rows.forget([*(c.id for c in result.changed), *result.removed])
    await _warm_after_edit(state, result)
    source = result.source
    changed = await clips_json(state, source, result.changed) if source is not None else []
    return JSONResponse({"changed": changed, "removed": list(result.removed)}, headers=_NO_STORE)
