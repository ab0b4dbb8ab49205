"""How commands print rows: JSON for ``--json``, one aligned line per clip otherwise."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from origin.urls import clip_stream_url

if TYPE_CHECKING:
    from db.records import ClipRecord
    from origin.settings import Settings


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON (the stable ``--json`` shapes)."""
    print(json.dumps(value, indent=2))


def print_clips(clips: Sequence[ClipRecord], settings: Settings) -> None:
    """One line per clip: id, source, times, version and its stream URL."""
    for clip in clips:
        print(
            f"clip {clip.id:<6} source {clip.source_id:<4} [{clip.start:>12}, {clip.end:>12})"
            f"  v{clip.version:<4} {clip_stream_url(clip, settings.signing_key_list)}"
        )
