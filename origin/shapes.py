"""The JSON shapes of sources and clips, shared by the CLI's ``--json`` and the API."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

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


def source_file_name(uri: str) -> str:
    """The last component of a source's URI, as a person names the file (``sample.mp4``).

    ``file://`` URIs are percent-encoded (``Path.as_uri``) and decoded here;
    ``s3://`` URIs hold the object key as it is, so a ``%`` or ``#`` in a key
    is part of the name.
    """
    if uri.startswith("file://"):
        path = unquote(uri.removeprefix("file://"))
    else:
        path = uri.partition("://")[2].partition("/")[2] if "://" in uri else uri
    return PurePosixPath(path).name or uri


def source_details_json(source: SourceRecord) -> dict[str, Any]:
    """:func:`source_json` plus what the probe found (the API's shape)."""
    return {
        **source_json(source),
        "video_codec": source.video_codec,
        "audio_codec": source.audio_codec,
        "width": source.width,  # coded size
        "height": source.height,
        "keyframe_count": len(source.keyframes),
        "file_name": source_file_name(source.uri),
        "size_bytes": source.size_bytes,
        "frame_count": source.frame_count,
    }
