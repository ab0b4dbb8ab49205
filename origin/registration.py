"""Register a source: open it, probe it, judge it, store it with its first cut into clips.

Registration tells the truth before anything is stored: a file no browser
can play is refused with a one-line reason, and one whose clips will not get
the smart cut (or not every browser's full support) is stored with warnings
that name the reason.
"""

from __future__ import annotations

import struct
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
from pool.cutting.assess import SourcePrecision, assess_reader, assess_source
from pool.errors import SourceUnavailable
from pool.mp4.avc import AvcError
from pool.mp4.boxes import Mp4Error
from pool.mp4.index import Movie, read_movie
from pool.sources.index_probe import IndexProbeUnsupported, check_complete, probe_movie
from pool.sources.locations import Source, SourceResolver, SourceStat
from pool.sources.probe import ProbeError, ProbeResult, probe
from pool.sources.reader import SourceReader, open_reader

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
    probe: str = "scan"  # "index": read from the moov; "scan": ffmpeg listed every packet
    probe_bytes: int = 0  # bytes of the source read to probe and judge it (a scan: all)


@dataclass(frozen=True)
class Examined:
    """What probing and judging a source found, and how it was probed."""

    facts: ProbeResult
    precision: SourcePrecision
    probe: str  # "index" or "scan"
    probe_bytes: int


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


def examine(
    source: Source, stat: SourceStat, ffmpeg: str, work: Path, *, scan: bool = False
) -> Examined:
    """Probe the source, refuse it if no browser could play it, and judge its precision.

    Blocking: run it in a thread. An unfragmented MP4 is probed from its
    index: the ``moov`` and, to judge it, the first bytes of a few keyframes
    are all that is read. Anything the index cannot describe as ffmpeg's
    packet scan would (and ``scan=True``) is probed by that scan, which reads
    the whole source.
    """
    ffmpeg_input = source.ffmpeg_input()

    def scanned() -> ProbeResult:
        return probe(ffmpeg, ffmpeg_input, input_options=source.input_options(stat.identity))

    try:
        reader: SourceReader = open_reader(ffmpeg_input, stat.identity, work / "spool")
    except SourceUnavailable:
        # Let the scan say what is wrong, as it did before the index was read.
        facts = scanned()
        refuse_unservable(facts)
        precision = assess_source(ffmpeg_input, stat.identity, work / "spool")
        return Examined(facts, precision, "scan", stat.size_bytes)
    try:
        movie: Movie | None = None
        facts_from_index: ProbeResult | None = None
        if not scan:
            try:
                movie = read_movie(reader.read_at, reader.size)
                check_complete(movie, reader.size)
                facts_from_index = probe_movie(movie)
            except (Mp4Error, struct.error, IndexError, AvcError, IndexProbeUnsupported):
                facts_from_index = None
        facts = facts_from_index if facts_from_index is not None else scanned()
        refuse_unservable(facts)
        precision = assess_reader(reader, movie)
        how = "scan" if facts_from_index is None else "index"
        read = reader.bytes_read + (stat.size_bytes if how == "scan" else 0)
    finally:
        reader.close()
    return Examined(facts, precision, how, read)


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
    with tempfile.TemporaryDirectory(prefix="origin-assess-") as work:
        examined = await anyio.to_thread.run_sync(lambda: examine(source, stat, ffmpeg, Path(work)))
    facts, precision = examined.facts, examined.precision
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
    return Registration(
        record,
        clips,
        warnings_for(facts, precision),
        probe=examined.probe,
        probe_bytes=examined.probe_bytes,
    )
