"""The JSON shapes of sources and clips, shared by the CLI's ``--json`` and the API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from db.records import ClipRecord, SourceRecord
from origin.urls import clip_stream_url, clip_thumbnail_path


def clip_json(clip: ClipRecord, signing_keys: Sequence[bytes]) -> dict[str, Any]:
    """``{"id", "source_id", "start", "end", "version", "url"}`` (stable, INTERFACE.md)."""
    return {
        "id": clip.id,
        "source_id": clip.source_id,
        "start": float(clip.start),
        "end": float(clip.end),
        "version": clip.version,
        "url": clip_stream_url(clip, signing_keys),
    }


def clip_details_json(clip: ClipRecord, signing_keys: Sequence[bytes]) -> dict[str, Any]:
    """:func:`clip_json` plus the public thumbnail path (the API's shape)."""
    return {**clip_json(clip, signing_keys), "thumbnail": clip_thumbnail_path(clip)}


def source_json(source: SourceRecord) -> dict[str, Any]:
    """``{"id", "uri", "duration", "clip_count"}`` (stable, INTERFACE.md), plus how
    players show it (display size after rotation) and how its clips are cut."""
    return {
        "id": source.id,
        "uri": source.uri,
        "duration": float(source.duration),
        "clip_count": source.clip_count,
        "display_width": source.display_width,
        "display_height": source.display_height,
        "rotation": source.rotation,
        "precision": source.precision,
        "precision_reason": source.precision_reason,
    }


def source_details_json(source: SourceRecord) -> dict[str, Any]:
    """:func:`source_json` plus what the probe found (the API's shape)."""
    return {
        **source_json(source),
        "video_codec": source.video_codec,
        "audio_codec": source.audio_codec,
        "width": source.width,  # coded size
        "height": source.height,
        "keyframe_count": len(source.keyframes),
    }
