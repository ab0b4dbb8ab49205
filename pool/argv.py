"""The ffmpeg command line for one clip: a pure function of the request.

Both forms stream-copy (no re-encoding) ``[start, end)`` of the first video
and, if present, the first audio stream:

- ``file``: a regular MP4, index last. ffmpeg starts the copy at the keyframe
  before ``start`` and writes an edit list that hides that pre-roll, so players
  begin at the exact frame (NOTES.md). Do not add ``-avoid_negative_ts
  make_zero``: it removes that edit list. :mod:`pool.cutting.editlist` then makes
  the edit lists exact and puts the index first, in one pass (``+faststart``
  would be another).
- ``pipe``: a fragmented MP4 that can be written to a pipe as it is cut. It
  cannot carry the edit list, so its pre-roll is shown; it is the fallback form.
- ``jpeg``: the thumbnail: the one frame at ``start`` (decoded from the keyframe
  before it, so exact), full-range JPEG.

Output is deterministic (no creation time, encoder string or metadata), so two
runs give byte-identical files and a CDN sees stable bytes.
"""

from __future__ import annotations

from pool.request import ClipRequest, seconds_text

PIPE_OUTPUT = "pipe:1"

_COMMON_HEAD = ["-nostdin", "-hide_banner", "-v", "error"]

# Everything that would differ between two runs of the same cut: container and
# stream metadata (creation_time, encoder name), chapters.
_DETERMINISTIC = [
    "-map_metadata", "-1",
    "-map_chapters", "-1",
    "-fflags", "+bitexact",
    "-flags:v", "+bitexact",
    "-flags:a", "+bitexact",
]  # fmt: skip

#: Fragmenting flags of the pipe form (the file form uses the muxer's defaults).
_PIPE_MOVFLAGS = ("-movflags", "frag_keyframe+empty_moov+default_base_moof")


def _seek(request: ClipRequest) -> list[str]:
    """Open the source at ``request.start`` on its own presentation timeline.

    ``-seek_timestamp 1`` makes ``-ss`` a timestamp of the file's, not an
    offset from its first one: on a file whose first frame shows at 0.0667 s
    (B-frames, no edit list) the two differ by that much.
    """
    return [
        "-seek_timestamp", "1",
        "-ss", seconds_text(request.start),
        "-i", request.source_input,
    ]  # fmt: skip


def build_clip_argv(ffmpeg: str, request: ClipRequest, output: str) -> list[str]:
    """Return the argv that cuts ``request`` into ``output``.

    ``output`` is passed to ffmpeg as is: for ``file`` mode a path ffmpeg may
    overwrite (prefix it with ``file:`` if it could contain a colon), for
    ``pipe`` mode normally :data:`PIPE_OUTPUT` (a fragmented MP4 can also be
    written to a file). ``-ss`` before ``-i`` seeks the input by its index;
    ``-t`` after it bounds the output's length.
    """
    if not output:
        raise ValueError("output must not be empty")
    if request.mode == "jpeg":
        return [
            ffmpeg,
            *_COMMON_HEAD,
            *request.input_options,
            *_seek(request),
            "-map", "0:v:0",
            "-frames:v", "1",
            "-vf", "scale=out_range=full:flags=bitexact,format=yuvj420p",
            "-c:v", "mjpeg", "-q:v", "2",
            *_DETERMINISTIC,
            "-f", "image2", "-update", "1",
            "-y",
            output,
        ]  # fmt: skip
    return [
        ffmpeg,
        *_COMMON_HEAD,
        *request.input_options,
        *_seek(request),
        "-t", seconds_text(request.duration),
        "-map", "0:v:0",
        "-map", "0:a:0?",
        "-c", "copy",
        *_DETERMINISTIC,
        *(_PIPE_MOVFLAGS if request.mode == "pipe" else ()),
        "-f", "mp4",
        "-y",
        output,
    ]  # fmt: skip
