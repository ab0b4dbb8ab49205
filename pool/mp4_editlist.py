"""Make a stream-copied MP4 present exactly its clip: edit lists and timing rewritten.

A stream copy that ends mid-GOP must carry the frames the last B-frames refer
to, and ffmpeg's edit list does not cut them off: the clip would end up to a
few frames late (see NOTES.md). Browsers and ffmpeg honour an edit list's
segment duration, so shortening it makes the clip end exactly where it should,
without re-encoding. The start is made exact too: the first frame shows at
its source time minus the clip's start, even when the start falls between two
frames. The samples are retimed so every player takes the track to end where
the clip does (:mod:`pool.mp4_timing`).

The file is written again by :mod:`pool.mp4_writer` from ffmpeg's samples:
Firefox fails to seek in some of ffmpeg's own layouts once they carry an
empty edit, and every clip the origin serves then has one layout.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from pool.mp4_boxes import Box, read_moov
from pool.mp4_index import Track, edit_entries, movie_timescale_of, read_track
from pool.mp4_timing import Timing, exact_end
from pool.mp4_writer import OutSample, OutTrack, SampleRef, write_mp4


def _exact_edits(
    track: Track, edits: list[tuple[int, int, int]], movie_scale: int
) -> tuple[Fraction, int]:
    """How long the track should show nothing (seconds), and from which media time.

    ffmpeg's edit list says which media time is the clip's time 0. A clip
    start between two frames falls inside the frame before it, and FFmpeg's
    demuxer (Chromium's too) would then show the next frame at 0 instead of
    a little later. So for video the media segment starts exactly at the
    first frame shown, after an empty edit as long as the gap. Audio keeps
    its start inside an AAC frame: decoders skip the samples before it.
    """
    scale = track.timescale
    empty = Fraction(0)
    if edits and edits[0][1] == -1:
        empty, edits = Fraction(edits[0][0], movie_scale), edits[1:]
    # Without an edit list the media shows from its first frame.
    media_time = edits[0][1] if edits else min((s.pts for s in track.samples), default=0)
    if track.handler != b"vide":
        return empty, media_time
    zero = media_time - empty * scale  # the media time shown at the clip's time 0
    first = min((s.pts for s in track.samples if s.pts >= zero), default=media_time)
    return (first - zero) / scale, first


def _exact_track(
    track: Track, edits: list[tuple[int, int, int]], movie_scale: int, duration: Fraction
) -> OutTrack:
    """The track written again: exact edits, and steps that end it with the clip."""
    delay, media_time = _exact_edits(track, edits, movie_scale)
    delay = min(delay, duration)
    length = round((duration - delay) * track.timescale)
    timings = [Timing(s.dts, s.pts, s.duration) for s in track.samples]
    last = timings[-1]
    # A track that stops before the clip's end (audio shorter than the video) is left so.
    if last.pts + last.duration >= media_time + length:
        timings = exact_end(timings, media_time, length, delayed=delay > 0) or timings
    samples = [
        OutSample(SampleRef(0, s.offset, s.size), t.dts, t.pts - t.dts, t.duration, s.sync)
        for s, t in zip(track.samples, timings, strict=True)
    ]
    return OutTrack(track, samples, media_start=media_time, delay=delay, presentation=duration)


def trim_presentation(path: Path, duration: Fraction) -> None:
    """Make every track of the MP4 at ``path`` present for exactly ``duration`` seconds.

    The first video frame keeps the time ffmpeg's edit list gives it (the
    source time minus the clip's start); see :func:`_exact_edits`. The file
    is replaced atomically by one written anew.
    """
    # Ends in .tmp like the cache's own temporaries: a crash leaves nothing it keeps.
    temp = path.with_name(path.name + ".elst.tmp")
    try:
        with path.open("rb") as src:

            def read_at(offset: int, size: int) -> bytes:
                src.seek(offset)
                return src.read(size)

            moov = read_moov(read_at, os.fstat(src.fileno()).st_size)
            movie_scale = movie_timescale_of(moov)
            tracks = []
            for trak in moov.find_all(b"trak"):
                # Composition times as stored: the edit list is what is rewritten.
                unedited = [c for c in trak.children if c.type != b"edts"]
                bare = read_track(Box(trak.type, children=unedited))
                if bare.samples:
                    tracks.append(_exact_track(bare, edit_entries(trak), movie_scale, duration))
            with temp.open("wb") as out:
                write_mp4(out, tracks, lambda ref: read_at(ref.offset, ref.size))
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
