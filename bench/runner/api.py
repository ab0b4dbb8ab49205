"""The edit API, as the review page calls it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx


def move_cut(port: int, clip_id: int, at: Decimal) -> dict[int, dict[str, Any]]:
    """``POST /api/clips/<clip_id>/move-cut`` to ``at``: the changed clips by id.

    The boundary between the clip and its successor moves; both get a new
    version, and with a clip store the server defers their warm jobs before
    it answers.
    """
    response = httpx.post(
        f"http://127.0.0.1:{port}/api/clips/{clip_id}/move-cut",
        json={"at": float(at)},
        timeout=30.0,
    )
    response.raise_for_status()
    return {int(c["id"]): c for c in response.json()["changed"]}
