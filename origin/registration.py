"""Register a source: open it, probe it, store it with its first cut into clips."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import anyio

from db.connection import Connection
from db.records import ClipRecord, SourceRecord
from db.sources import NewSource, add_source
from db.tiling import boundaries_every, boundaries_from_cuts, to_time
from origin.settings import Settings
from pool.probe import probe
from pool.sources import SourceResolver

DEFAULT_EVERY_S = Decimal(10)


def source_resolver(settings: Settings) -> SourceResolver:
    """How this deployment reaches sources; presigned URLs outlive the longest run."""
    return SourceResolver(
        s3_endpoint_url=settings.s3_endpoint_url,
        presign_ttl_s=int(settings.stream_timeout_s) + 60,
    )


async def register_source(
    conn: Connection,
    uri: str,
    *,
    ffmpeg: str,
    sources: SourceResolver,
    every: Decimal | None = None,
    cuts: Sequence[Decimal] | None = None,
) -> tuple[SourceRecord, list[ClipRecord]]:
    """Probe ``uri`` and store it cut every ``every`` seconds or at ``cuts``.

    Raises SourceError or ProbeError for an unusable source and EditRefused
    or SourceExists for an unusable cut plan, before anything is written.
    """
    source = sources.open(uri)
    stat = await anyio.to_thread.run_sync(source.stat)
    facts = await anyio.to_thread.run_sync(
        lambda: probe(
            ffmpeg, source.ffmpeg_input(), input_options=source.input_options(stat.identity)
        )
    )
    duration = to_time(facts.duration, what="duration")
    min_clip = duration / facts.frame_count
    if cuts is not None:
        boundaries = boundaries_from_cuts(duration, cuts, min_clip)
    else:
        boundaries = boundaries_every(
            duration, DEFAULT_EVERY_S if every is None else every, min_clip
        )
    new = NewSource(
        uri=source.uri,
        duration=duration,
        container=facts.container,
        video_codec=facts.video_codec,
        audio_codec=facts.audio_codec,
        width=facts.width,
        height=facts.height,
        frame_count=facts.frame_count,
        keyframes=facts.keyframes,
        size_bytes=stat.size_bytes,
        identity=stat.identity,
    )
    return await add_source(conn, new, boundaries)
