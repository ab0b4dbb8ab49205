"""Sample durations that make every player end a clip's track exactly where it should.

A track's samples keep their presentation times; only their decode-time
steps (``stts``) change, and with them the stored offsets (``ctts``), so
nothing a player shows moves. Players read a track's end in different ways:

- Firefox (mp4parse): the last frame shown lasts its own ``stts`` step, and
  the track ends when that frame does.
- FFmpeg's demuxer (and Chromium, which uses it): the track starts at its
  first frame's time and lasts the sum of all ``stts`` steps, capped by the
  edit list's length. When the track starts late (an empty edit before the
  media), that sum must therefore be the media's shown length exactly, or
  the late start is counted twice. Chromium also stretches the duration to
  the latest presentation time of any sample, shown or not.

:func:`exact_end` gives one set of steps that satisfies both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pool.mp4.boxes import Box, Mp4Error, runs, table_box


@dataclass(frozen=True)
class Timing:
    """One sample's decode time, presentation time and decode step, in track ticks."""

    dts: int
    pts: int
    duration: int


def exact_end(
    samples: Sequence[Timing], media_start: int, length: int, *, delayed: bool
) -> list[Timing] | None:
    """New timings (decode order) under which the track shows media [start, start + length).

    ``media_start`` is where the edit list starts showing the media and
    ``length`` how long it shows it; ``delayed`` says an empty edit comes
    first. Samples before that window (a stream copy's pre-roll) keep their
    presentation times too; the reference frames after it are moved to just
    after its end (they are decoded, never shown). A delayed track's steps add
    up to ``length`` when its samples leave enough ticks for it. Returns None
    when no valid timing exists (nothing shown, or a hidden frame decoded after
    the last one shown); the caller keeps the old one.
    """
    if not samples:
        return None
    end = media_start + length
    shown = [i for i, s in enumerate(samples) if media_start <= s.pts < end]
    if not shown:
        return None
    steps = [s.duration for s in samples]
    pts = [s.pts for s in samples]
    # Reference frames after the end are decoded, never shown. Chromium still
    # stretches the duration to the latest time of any frame, and Firefox to
    # the end of the last one: they get the first ticks after the end, and
    # the last of them a step of one tick.
    after = sorted((i for i, s in enumerate(samples) if s.pts >= end), key=lambda i: pts[i])
    for rank, i in enumerate(after):
        pts[i] = end + rank
    if after:
        fixed = {after[-1]}
        steps[after[-1]] = 1
    else:
        # Firefox ends the track with the last frame shown, after its own step.
        last_shown = max(shown, key=lambda i: pts[i])
        fixed = {last_shown}
        steps[last_shown] = end - pts[last_shown]
    last = len(samples) - 1
    if delayed:
        # The steps must add up to the shown length. Shrinking a step only
        # moves later decode times earlier, which keeps them before their
        # presentation times: hidden frames' steps go first (a copy's
        # pre-roll, the references after the end), then shown ones', last first.
        excess = sum(steps[:last]) - (length - (steps[last] if last in fixed else 1))
        order = sorted(reversed(range(last)), key=lambda i: media_start <= pts[i] < end)
        for i in order:
            if excess <= 0:
                break
            if i not in fixed:
                cut = min(excess, steps[i] - 1)
                steps[i] -= cut
                excess -= cut
        if last not in fixed:
            steps[last] = length - sum(steps[:last])
    elif last not in fixed:
        steps[last] = max(steps[last], length - sum(steps[:last]))
    retimed: list[Timing] = []
    dts = 0
    for shown_at, step in zip(pts, steps, strict=True):
        if step < 1 or dts > shown_at:
            return None
        retimed.append(Timing(dts, shown_at, step))
        dts += step
    return retimed


def timing_boxes(samples: Sequence[Timing]) -> list[Box]:
    """The ``stts`` box of the samples' steps, and ``ctts`` when any sample shows late."""
    offsets = [s.pts - s.dts for s in samples]
    if any(o < 0 for o in offsets):
        raise Mp4Error("negative composition offset")
    boxes = [table_box(b"stts", runs(s.duration for s in samples), ">II")]
    if any(offsets):
        boxes.append(table_box(b"ctts", runs(offsets), ">II"))
    return boxes
