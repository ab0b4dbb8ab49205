"""Exports: ask for one (POST /api/clips/{id}/export), follow it, download it."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from db import exports as export_store
from db.errors import NotFound
from origin.db_access import connection
from origin.errors import HttpError
from origin.jobs.exports import JsonDict, export_json, request_export
from origin.params import parse_id
from origin.routes.api import require_admin
from origin.signing import sign_path, verify
from origin.state import AppState, app_state

_NO_STORE = {"Cache-Control": "no-store"}
DOWNLOAD_TTL_S = 3600


async def create_export(request: Request) -> Response:
    """POST /api/clips/{id}/export → 202 with the export's status URL."""
    state = app_state(request)
    require_admin(request, state)
    clip_id = parse_id(request.path_params["clip_id"], "clip")
    if state.clip_pool.store is None:
        raise HttpError(409, "exports need a clip store (ORIGIN_CLIP_STORE is 'none')")
    jobs = await state.jobs.get()
    async with connection(state) as conn:
        try:
            export = await request_export(conn, jobs, clip_id, destination=None)
        except NotFound as exc:
            raise HttpError(404, str(exc)) from None
    where = f"/api/exports/{export.id}"
    return JSONResponse(
        _export_json(state, export), status_code=202, headers={**_NO_STORE, "Location": where}
    )


async def show_export(request: Request) -> Response:
    """GET /api/exports/{id}: queued | running | done | failed, with a download URL when done."""
    state = app_state(request)
    require_admin(request, state)
    export = await _export(state, parse_id(request.path_params["export_id"], "export"))
    return JSONResponse(_export_json(state, export), headers=_NO_STORE)


async def download_export(request: Request) -> Response:
    """GET /api/exports/{id}/download: the file from a directory store, as an attachment."""
    state = app_state(request)
    export_id = parse_id(request.path_params["export_id"], "export")
    keys = _download_keys(state)
    if keys:
        problem = verify(request.url.path, request.query_params.get("exp"),
                         request.query_params.get("sig"), keys)  # fmt: skip
        if problem is not None:
            raise HttpError(403, problem)
    export = await _export(state, export_id)
    store = state.clip_pool.store
    path = store.backend.export_path(export.store_name) if store is not None else None
    if export.status != "done" or export.destination is not None or path is None:
        raise HttpError(404, "no such export file")
    return FileResponse(
        path, media_type="video/mp4", filename=export.file_name,
        content_disposition_type="attachment", headers={"Cache-Control": "private, no-cache"},
    )  # fmt: skip


async def _export(state: AppState, export_id: int) -> export_store.ExportRecord:
    async with connection(state) as conn:
        try:
            return await export_store.get_export(conn, export_id)
        except NotFound as exc:
            raise HttpError(404, str(exc)) from None


def _download_keys(state: AppState) -> tuple[bytes, ...]:
    """What signs download links: the URL signing keys, else the admin token, else nothing."""
    settings = state.settings
    if settings.signing_key_list:
        return settings.signing_key_list
    return (settings.admin_token.encode(),) if settings.admin_token else ()


def download_url(state: AppState, export: export_store.ExportRecord) -> str | None:
    """Where to download a finished export from the store (presigned or signed), if anywhere."""
    store = state.clip_pool.store
    if export.status != "done" or export.destination is not None or store is None:
        return None
    presigned = store.backend.export_url(export.store_name, DOWNLOAD_TTL_S)
    if presigned is not None:
        return presigned
    path = f"/api/exports/{export.id}/download"
    keys = _download_keys(state)
    return sign_path(path, keys[0], DOWNLOAD_TTL_S, now=time.time()) if keys else path


def _export_json(state: AppState, export: export_store.ExportRecord) -> JsonDict:
    return export_json(export, download_url(state, export))
