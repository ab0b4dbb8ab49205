"""Register a source: open it, probe it, judge it, store it with its first cut into clips.

Registration tells the truth before anything is stored: a file no browser
can play is refused with a one-line reason, and one whose clips will not get
the smart cut (or not every browser's full support) is stored with warnings
that name the reason.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import anyio

from db.connection import Connection
from db.records import ClipRecord, SourceRecord
from db.sources import NewSource, add_source
from db.tiling import boundaries_every, boundaries_from_cuts, to_time
from pool.cutting.assess import SourcePrecision, assess_source
from pool.sources.locations import Source, SourceResolver, SourceStat
from pool.sources.probe import ProbeError, ProbeResult, probe

DEFAULT_EVERY_S = Decimal(10)

#: ffmpeg's name for the ISO base media family: MP4, MOV, 3GP.
MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"

#: Video codecs some browser plays in MP4, with what to say when not every one does.
PLAYABLE_VIDEO: dict[str, str | None] = {
    "h264": None,
    "hevc": "HEVC plays only where the browser decodes it (Safari; Chrome and Edge with "
    "hardware decoding): Firefox and Chromium without it play the sound and show no picture",
    "av1": "AV1 plays in Chrome, Firefox and Edge, and in Safari only with hardware decoding",
    "vp9": None,
}
#: Audio codecs every major browser plays in MP4.
PLAYABLE_AUDIO = {"aac", "mp3", "opus", "flac"}


@dataclass(frozen=True)
class Registration:
    """A stored source, its clips, and what its owner should know about it."""

    source: SourceRecord
    clips: list[ClipRecord]
    warnings: list[str]


def refuse_unservable(facts: ProbeResult) -> None:
    """Raise ProbeError, in one line, for a source no browser could play as a clip."""
    if facts.container != MP4_FAMILY:
        raise ProbeError(
            f"not an MP4 or QuickTime file (ffmpeg reads it as {facts.container}): "
            "remux it first, e.g. ffmpeg -i IN -c copy OUT.mp4"
        )
    if facts.video_codec not in PLAYABLE_VIDEO:
        raise ProbeError(
            f"its {facts.video_codec} video plays in no browser: transcode it to H.264 first"
        )


def warnings_for(facts: ProbeResult, precision: SourcePrecision) -> list[str]:
    """What a source's owner should know: precision, playability, sound."""
    found = []
    if precision.precision == "editlist":
        found.append(
            f"clips will be cut with the edit list, not the smart cut: {precision.reason} "
            "(exact in Chromium and ffmpeg; Firefox shows the frames from the keyframe "
            "before each cut)"
        )
    elif precision.reason:
        found.append(precision.reason)
    note = PLAYABLE_VIDEO.get(facts.video_codec)
    if note:
        found.append(note)
    if facts.audio_codec is not None and facts.audio_codec not in PLAYABLE_AUDIO:
        found.append(f"its {facts.audio_codec} audio plays in no browser: clips play silent")
    return found


async def _examine(
    source: Source, stat: SourceStat, ffmpeg: str
) -> tuple[ProbeResult, SourcePrecision]:
    """Probe the source, refuse it if no browser could play it, and judge its precision."""
    facts = await anyio.to_thread.run_sync(
        lambda: probe(
            ffmpeg, source.ffmpeg_input(), input_options=source.input_options(stat.identity)
        )
    )
    refuse_unservable(facts)
    with tempfile.TemporaryDirectory(prefix="origin-assess-") as work:
        precision = await anyio.to_thread.run_sync(
            lambda: assess_source(source.ffmpeg_input(), stat.identity, Path(work) / "spool")
        )
    return facts, precision


async def register_source(
    conn: Connection,
    uri: str,
    *,
    ffmpeg: str,
    sources: SourceResolver,
    every: Decimal | None = None,
    cuts: Sequence[Decimal] | None = None,
) -> Registration:
    """Probe ``uri`` and store it cut every ``every`` seconds or at ``cuts``.

    Raises SourceError or ProbeError for an unusable source and EditRefused
    or SourceExists for an unusable cut plan, before anything is written.
    """
    source = sources.open(uri)
    stat = await anyio.to_thread.run_sync(source.stat)
    facts, precision = await _examine(source, stat, ffmpeg)
    duration = to_time(facts.duration, what="duration")
    min_clip = duration / facts.frame_count
    if cuts is not None:
        boundaries = boundaries_from_cuts(duration, cuts, min_clip)
    else:
        boundaries = boundaries_every(
            duration, DEFAULT_EVERY_S if every is None else every, min_clip
        )
    display_width, display_height = facts.display_size
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
        rotation=facts.rotation,
        display_width=display_width,
        display_height=display_height,
        precision=precision.precision,
        precision_reason=precision.reason,
    )
    record, clips = await add_source(conn, new, boundaries)
    return Registration(record, clips, warnings_for(facts, precision))
