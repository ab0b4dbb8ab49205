"""Which frames of a clip to stream-copy and which to re-encode (a pure function of the index).

The clip shows exactly the source frames whose presentation time falls in
``[start, end)``. Copying begins at an IDR frame (a decoder needs nothing
before it) or, in an open-GOP source, at a keyframe that is a non-IDR I
picture: its *leading pictures* (after it in decode order, shown before it)
refer to the GOP before and are not copied, and the keyframe is rewritten
into an IDR (:mod:`pool.cutting.open_gop`). The frames between ``start``
and the first copied one are the *head*, re-encoded. Copying must stop
where the copied frames are a prefix in decode order, or the last B-frames
would need a reference frame from past the end that the clip must not show;
the frames after that point are the *tail*, re-encoded too (a few frames at
most). Copying those references anyway and ending the edit list before them
is not enough: Firefox paints them at the end (measured: the frame an ended
clip keeps showing was 1 or 2 past the clip's last in 44 of 100 Firefox
corpus clips; tests/browser/test_corpus.py checks it). With nowhere to
start copying in the clip, the whole clip is one re-encoded segment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import takewhile

from pool.mp4.samples import Sample, pts_column, sync_before, sync_column, sync_from


class SmartCutUnsupported(Exception):
    """The smart cut cannot handle this source or clip; the message says why (for logs)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason  # a short fixed label, for metrics
        self.detail = detail


@dataclass(frozen=True)
class Reencode:
    """Frames to re-encode, and the source samples a decoder needs to produce them."""

    decode_from: int  # a sync sample; decoding starts here
    decode_to: int  # exclusive: every frame below is decodable from [decode_from, decode_to)
    frames: tuple[int, ...]  # sample indices, in presentation order


@dataclass(frozen=True)
class CutPlan:
    """How to build the clip: head (re-encoded), copy (as is), tail (re-encoded)."""

    frames: tuple[int, ...]  # every frame the clip shows, in presentation order
    head: Reencode | None
    copy: tuple[int, ...]  # sample indices in decode order
    tail: Reencode | None

    @property
    def reencoded_frames(self) -> int:
        """How many of the clip's frames are re-encoded."""
        return sum(len(part.frames) for part in (self.head, self.tail) if part is not None)


def _ticks(seconds: Fraction, timescale: int) -> int:
    # For integer pts: pts >= t is pts >= ceil(t), and pts < t is pts < ceil(t).
    return math.ceil(seconds * timescale)


def shown_frames(
    samples: Sequence[Sample], timescale: int, start: Fraction, end: Fraction
) -> list[int]:
    """Indices of the samples presented in ``[start, end)`` (seconds), in presentation order."""
    lo, hi = _ticks(start, timescale), _ticks(end, timescale)
    pts = pts_column(samples)
    frames = sorted((i for i, p in enumerate(pts) if lo <= p < hi), key=pts.__getitem__)
    if not frames:
        raise SmartCutUnsupported("empty_clip", "no frame starts inside the clip")
    return frames


def plan_cut(
    samples: Sequence[Sample],
    timescale: int,
    start: Fraction,
    end: Fraction,
    is_idr: Callable[[int], bool],
    open_gop: bool = False,
) -> CutPlan:
    """Plan the clip ``[start, end)`` (seconds) of a video track.

    ``samples`` are in decode order; ``is_idr(i)`` says whether sample ``i``
    is an IDR picture (only asked for sync samples inside the clip). With
    ``open_gop``, any sync sample may start the copy.
    """
    frames = shown_frames(samples, timescale, start, end)
    lo, hi = _ticks(start, timescale), _ticks(end, timescale)
    pts, sync = pts_column(samples), sync_column(samples)
    # Sync samples past the last frame shown cannot be shown in the clip.
    first_copy = next(
        (
            i
            for i in takewhile(max(frames).__ge__, sync_from(sync, min(frames)))
            if lo <= pts[i] < hi and (open_gop or is_idr(i))
        ),
        None,
    )
    if first_copy is None:
        return CutPlan(tuple(frames), _reencode(pts, sync, frames), (), None)

    copy_from = pts[first_copy]
    # Leading pictures of the first copied keyframe (none after an IDR) are the head's.
    copy = [i for i in _decode_prefix(pts, first_copy, hi) if pts[i] >= copy_from]
    shown = set(frames)
    while True:
        copied = set(copy)
        missing = [i for i in frames if pts[i] >= copy_from and i not in copied]
        if not missing:
            tail_from = None
            break
        tail_from = min(pts[i] for i in missing)
        cut = next((n for n, i in enumerate(copy) if pts[i] >= tail_from), None)
        if cut is None:
            break
        copy = copy[:cut]
    if not copy:
        return CutPlan(tuple(frames), _reencode(pts, sync, frames), (), None)
    head_frames = [i for i in frames if pts[i] < copy_from]
    tail_frames = [] if tail_from is None else [i for i in frames if pts[i] >= tail_from]
    if not set(copy) <= shown:
        raise SmartCutUnsupported("layout", "copied frames outside the clip")
    return CutPlan(
        tuple(frames),
        _reencode(pts, sync, head_frames) if head_frames else None,
        tuple(copy),
        _reencode(pts, sync, tail_frames) if tail_frames else None,
    )


def _decode_prefix(pts: Sequence[int], first: int, hi: int) -> list[int]:
    """Samples from ``first`` on, in decode order, up to the first one shown at or after ``hi``."""
    prefix: list[int] = []
    for i in range(first, len(pts)):
        if pts[i] >= hi:
            break
        prefix.append(i)
    return prefix


def _reencode(pts: Sequence[int], sync: bytearray, frames: Sequence[int]) -> Reencode:
    """The decode range for ``frames``: from the sync sample before the first of them.

    That sync sample must show at or before the first frame. When it is not
    an IDR (open GOP), only its leading pictures refer to the GOP before, and
    they show before it: every frame from it on decodes right (a recovery
    point, which the copy from an open-GOP keyframe relies on too).
    """
    first_pts = pts[frames[0]]
    start = next((i for i in sync_before(sync, min(frames) + 1) if pts[i] <= first_pts), None)
    if start is None:
        raise SmartCutUnsupported("no_keyframe", "no keyframe before the clip's first frame")
    return Reencode(start, max(frames) + 1, tuple(frames))
