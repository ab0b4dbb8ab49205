"""Timing at the splice: decode and presentation times for copied and re-encoded samples.

Pure functions over sample tables: copied samples keep their source times,
re-encoded frames take the times of the frames they replace, and the last
steps end the track exactly (:mod:`pool.mp4.timing`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from pool.cutting.smart_plan import SmartCutUnsupported
from pool.mp4.index import Track
from pool.mp4.samples import Sample
from pool.mp4.timing import Timing, exact_end
from pool.mp4.writer import OutSample, SampleRef

SOURCE_INPUT = 0  # SampleRef.input of the source; encoder outputs follow


@dataclass(frozen=True)
class Timed:
    """A sample's decode time and composition offset in an output track."""

    dts: int
    composition_offset: int


def retimed(samples: Sequence[Sample], pts: Sequence[int]) -> list[Timed]:
    """Decode times from 0 that keep every sample's pts - dts, shifted so none is negative."""
    delta = max(0, max(s.dts - p for s, p in zip(samples, pts, strict=True)))
    base = samples[0].dts
    return [Timed(s.dts - base, p - s.dts + delta) for s, p in zip(samples, pts, strict=True)]


def ref(timed: Timed, sample: Sample) -> OutSample:
    """A source sample copied as is, at ``timed``."""
    return OutSample(
        SampleRef(SOURCE_INPUT, sample.offset, sample.size),
        dts=timed.dts,
        composition_offset=timed.composition_offset,
        duration=sample.duration,
        sync=sample.sync,
    )


def encoded_frames(
    input_no: int, track: Track, source_pts: Sequence[int]
) -> list[tuple[int, Sample, int]]:
    """Encoded samples paired with the source times of the frames they replace."""
    if any(b.pts <= a.pts for a, b in itertools.pairwise(track.samples)):
        raise SmartCutUnsupported("encoder_output", "re-encoded frames are reordered")
    return [(input_no, s, p) for s, p in zip(track.samples, source_pts, strict=True)]


def splice_timing(parts: Sequence[tuple[int, Sample, int]], reorder: int) -> list[tuple[int, int]]:
    """(dts, pts) per output sample on the source timeline.

    Copied samples keep their own times. Re-encoded frames (no reordering)
    decode ``reorder`` ticks before they show, the copied keyframe's delay,
    so decode times keep increasing into the copied part; the tail's frames
    do too, but never before the last copied one (every frame of a track
    then shows as long after it decodes, which keeps its end exact in every
    player: :mod:`pool.mp4.timing`).
    """
    timed: list[tuple[int, int]] = []
    copied_any = False
    for inp, sample, pts in parts:
        if inp == SOURCE_INPUT:
            copied_any = True
            timed.append((sample.dts, pts))
        elif copied_any:
            timed.append((max(timed[-1][0] + 1, pts - reorder), pts))
        else:
            timed.append((pts - reorder, pts))
    if any(b[0] <= a[0] for a, b in itertools.pairwise(timed)):
        raise SmartCutUnsupported("layout", "decode times do not increase across the splice")
    return timed


def exactly_timed(
    refs: Sequence[SampleRef],
    sync: Sequence[bool],
    timings: Sequence[Timing],
    *,
    last_step: int,
    media_start: int | None,
    length: int,
    delayed: bool,
) -> list[OutSample]:
    """Output samples whose steps end the track exactly (see :mod:`pool.mp4.timing`).

    ``timings`` carry decode and presentation times (their steps are
    recomputed from the decode times, ``last_step`` for the last sample).
    With ``media_start`` None the steps stay as they are.
    """
    steps = [b.dts - a.dts for a, b in itertools.pairwise(timings)] + [last_step]
    stepped = [Timing(t.dts, t.pts, step) for t, step in zip(timings, steps, strict=True)]
    exact = (
        None if media_start is None else exact_end(stepped, media_start, length, delayed=delayed)
    )
    return [
        OutSample(ref, t.dts, t.pts - t.dts, t.duration, is_sync)
        for ref, is_sync, t in zip(refs, sync, exact or stepped, strict=True)
    ]
