"""Every frame's presentation time on a source's timeline, read from its MP4 index alone.

The review page steps frame by frame and shows which frames a cut point
keeps; it needs the times players (FFmpeg's demuxer, so Chromium) give the
frames, edit list applied: exactly what :mod:`pool.mp4.index` reads from
``moov``. No media data is read, so a remote source costs a few small range
requests, like the smart cut's index read.

Times are integer microseconds, rounded *down*: the database stores cut
points to the microsecond, and a cut at a frame's floored time keeps that
frame in the clip that starts there (rounding up could land past the frame
and leave it to the previous clip). On that grid, ``start <= t < end`` holds
for a floored time exactly when it holds for the exact one.
"""

from __future__ import annotations

import os
import struct
from array import array
from pathlib import Path

from pool.mp4.boxes import Mp4Error
from pool.mp4.index import Track, read_movie
from pool.sources.reader import open_reader

MICROS_PER_SECOND = 1_000_000


class FramesUnsupported(Exception):
    """The source's index cannot be read here (fragmented MP4, a complex edit list, ...)."""


def shown_frame_micros(track: Track) -> array[int]:
    """The floored microsecond start of every frame the track shows, ascending.

    Frames an edit list hides before the start (negative presentation times)
    are decoded by players but never shown, so they are not listed; this is
    also how registration counts a source's frames.
    """
    scale = track.timescale
    # Integer arithmetic: exact for any timescale, and floor division floors.
    shown = array("q", (p * MICROS_PER_SECOND // scale for p in track.samples.pts if p >= 0))
    if not track.samples.ascending():
        shown = array("q", sorted(shown))
    return shown


def read_frame_micros(source_input: str, identity: str) -> array[int]:
    """The frame times (see :func:`shown_frame_micros`) of the source ffmpeg would read as
    ``source_input`` (``file:<path>`` or a presigned URL), whose bytes must have ``identity``.

    Blocking: run it in a thread. Raises SourceUnavailable when the bytes
    cannot be read (or changed: remote reads carry ``If-Match``), and
    FramesUnsupported when the index is not one :mod:`pool.mp4.index` reads.
    """
    # Only the index is read, with small range requests: a remote reader never
    # fills its spool (that is for a cut's prefetch), so no file is made.
    reader = open_reader(source_input, identity, Path(os.devnull))
    try:
        movie = read_movie(reader.read_at, reader.size)
    except (Mp4Error, struct.error) as exc:
        raise FramesUnsupported(str(exc) or type(exc).__name__) from None
    finally:
        reader.close()
    video = movie.first(b"vide")
    if video is None:
        raise FramesUnsupported("no video track")
    return shown_frame_micros(video)
