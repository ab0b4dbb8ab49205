"""Parsing of path parameters and bodies: anything odd is a 4xx, never a 5xx."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from origin.errors import SHORT_MAX_AGE, HttpError

_DIGITS = re.compile(r"[0-9]{1,19}")
MAX_ID = 2**63 - 1  # PostgreSQL bigint
MAX_BODY_BYTES = 4096


def parse_id(raw: str, what: str = "id") -> int:
    """A positive bigint id from a path segment; 404 for ids that cannot exist."""
    if not _DIGITS.fullmatch(raw):
        raise HttpError(400, f"malformed {what}: expected a positive integer")
    value = int(raw)
    if value == 0 or value > MAX_ID:
        raise HttpError(404, f"no such {what}", cache_control=SHORT_MAX_AGE)
    return value


async def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (empty body → {})."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HttpError(413, "request body too large")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HttpError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "request body must be a JSON object")
    return body
