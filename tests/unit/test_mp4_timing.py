"""Retiming a track so it ends exactly where its clip does (pool/mp4/timing.py)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pool.mp4.timing import Timing, exact_end

F = 512  # one frame, in ticks


def b_frame_stream(frames: int, reorder: int = 2 * F, end: int | None = None) -> list[Timing]:
    """x264's layout in decode order: I0 P3 B1 B2 P6 B4 B5 ... (pts in frames).

    With ``end``, only what a stream copy ending there holds: every sample
    decoded before ``end`` (the last ones may be references shown after it).
    """
    shown: list[int] = [0]
    for anchor in range(3, frames + 2, 3):
        shown += [anchor, anchor - 2, anchor - 1]
    shown = [p for p in shown if p < frames]
    samples = [Timing(n * F, p * F + reorder, F) for n, p in enumerate(shown)]
    return [s for s in samples if end is None or s.dts < end]


def check(samples: list[Timing], retimed: list[Timing], start: int, end: int) -> None:
    assert len(retimed) == len(samples)
    assert retimed[0].dts == 0
    for a, b in itertools.pairwise(retimed):
        assert b.dts == a.dts + a.duration  # steps are the decode-time gaps
    assert all(t.duration >= 1 and t.dts <= t.pts for t in retimed)
    for old, new in zip(samples, retimed, strict=True):
        if old.pts < end:
            assert new.pts == old.pts  # nothing shown moves
        else:
            assert new.pts >= end  # references past the end stay hidden
    # Firefox: the last frame in presentation order ends at the end (a few ticks
    # later when it is a hidden reference frame given one-tick steps).
    last = max(retimed, key=lambda t: t.pts)
    assert end <= last.pts + last.duration <= end + len(samples)


def test_a_clip_ending_mid_mini_gop_moves_its_references_just_past_the_end() -> None:
    start, end = 2 * F, 2 * F + 20 * F + 100  # frames 0..20 shown, the last cut short
    samples = b_frame_stream(30, end=end)
    assert max(s.pts for s in samples) >= end  # a reference frame past the end
    retimed = exact_end(samples, start, end - start, delayed=False)
    assert retimed is not None
    check(samples, retimed, start, end)
    after = sorted(t.pts for t in retimed if t.pts >= end)
    assert after == list(range(end, end + len(after)))
    # Chromium: the steps add up to at least the length (FFmpeg caps them with the edit).
    assert sum(t.duration for t in retimed) >= end - start


def test_a_delayed_track_adds_up_to_its_shown_length_exactly() -> None:
    # A stream copy: 4 frames of pre-roll before the first shown one, then the clip.
    samples = b_frame_stream(40)
    start = 2 * F + 4 * F
    length = 20 * F
    retimed = exact_end(samples, start, length, delayed=True)
    assert retimed is not None
    check(samples, retimed, start, start + length)
    assert sum(t.duration for t in retimed) == length


def test_a_stream_without_reordering_ends_on_its_last_frame() -> None:
    samples = [Timing(n * F, n * F, F) for n in range(10)]
    retimed = exact_end(samples, 0, 9 * F + 7, delayed=False)
    assert retimed is not None
    assert retimed[-1].duration == 7
    assert [t.pts for t in retimed] == [t.pts for t in samples]


def test_no_retiming_when_nothing_valid_exists() -> None:
    samples = [Timing(0, 1, 1), Timing(1, 2, 1), Timing(2, 3, 1)]
    assert exact_end([], 0, 10, delayed=False) is None
    assert exact_end(samples, 10, 5, delayed=False) is None  # nothing shown
    # A hidden frame decoded after the last shown one cannot show just past the end.
    late = [Timing(0, 0, F), Timing(F, 3 * F, F), Timing(2 * F, 3 * F + 1, F)]
    assert exact_end(late, 0, F, delayed=False) is None


@given(
    first=st.integers(min_value=0, max_value=10),
    shown=st.integers(min_value=2, max_value=40),
    cut=st.integers(min_value=1, max_value=F),
    delayed=st.booleans(),
)
def test_any_cut_of_a_b_frame_stream_keeps_every_invariant(
    first: int, shown: int, cut: int, delayed: bool
) -> None:
    start = 2 * F + first * F  # frames before ``first`` are a stream copy's pre-roll
    end = start + (shown - 1) * F + cut
    samples = b_frame_stream(first + shown + 3, end=end)
    retimed = exact_end(samples, start, end - start, delayed=delayed)
    assert retimed is not None
    check(samples, retimed, start, end)
    if delayed:
        assert sum(t.duration for t in retimed) == end - start


@pytest.mark.parametrize("delayed", [False, True])
def test_retiming_twice_changes_nothing(delayed: bool) -> None:
    start = 2 * F + 3 * F
    samples = b_frame_stream(30, end=start + 10 * F + 17)
    once = exact_end(samples, start, 10 * F + 17, delayed=delayed)
    assert once is not None
    assert exact_end(once, 2 * F + 3 * F, 10 * F + 17, delayed=delayed) == once
