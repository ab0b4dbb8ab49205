"""The one place that knows what a clip's URL looks like."""

from __future__ import annotations

from collections.abc import Sequence

from db.records import ClipRecord
from origin.signing import sign_path

#: Signed URLs printed without an explicit TTL live this long.
DEFAULT_TTL_S = 3600


def clip_stream_path(clip: ClipRecord) -> str:
    """The canonical, unsigned stream path of the clip's current version."""
    return f"/videos/clips/{clip.id}/stream/v{clip.version}"


def clip_thumbnail_path(clip: ClipRecord) -> str:
    """The public thumbnail path of the clip's current version."""
    return f"/videos/clips/{clip.id}/thumbnail/v{clip.version}.jpg"


def clip_stream_url(
    clip: ClipRecord, signing_keys: Sequence[bytes] = (), ttl_s: int = DEFAULT_TTL_S
) -> str:
    """The stream path, signed with the newest key when signing is on."""
    path = clip_stream_path(clip)
    return sign_path(path, signing_keys[0], ttl_s) if signing_keys else path
