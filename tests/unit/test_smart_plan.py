"""The smart cut's plan, on synthetic x264-like GOPs (pure logic)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pool.cutting.smart_plan import CutPlan, SmartCutUnsupported, plan_cut
from pool.mp4.samples import Sample

TICKS = 512  # per frame
SCALE = 15360  # 30 fps


def gops(frames: int, gop: int, bframes: int = 3) -> list[Sample]:
    """Samples in decode order: each GOP an I frame, then mini-GOPs (anchor, then B-frames).

    Closed GOPs, as x264 writes them: the last mini-GOP ends on a P frame
    before the next I. Decode times trail presentation by two frames.
    """
    order: list[tuple[int, bool]] = []
    for g in range(0, frames, gop):
        order.append((g, True))
        rest = list(range(g + 1, min(g + gop, frames)))
        for m in range(0, len(rest), bframes + 1):
            group = rest[m : m + bframes + 1]
            order.append((group[-1], False))
            order.extend((f, False) for f in group[:-1])
    return [
        Sample(offset=n * 100, size=100, dts=(n - 2) * TICKS, pts=f * TICKS, duration=TICKS,
               sync=key)
        for n, (f, key) in enumerate(order)
    ]  # fmt: skip


def open_gops(frames: int, gop: int, bframes: int = 3) -> list[Sample]:
    """Samples in decode order as x264 ``open-gop=1`` writes them: each keyframe (after the
    first) is the anchor that the B-frames shown just before it follow in decode order."""
    order: list[tuple[int, bool]] = [(0, True)]
    for anchor in range(bframes + 1, frames, bframes + 1):
        order.append((anchor, anchor % gop == 0))
        order.extend((f, False) for f in range(anchor - bframes, anchor))
    return [
        Sample(offset=n * 100, size=100, dts=(n - 2) * TICKS, pts=f * TICKS, duration=TICKS,
               sync=key)
        for n, (f, key) in enumerate(order)
    ]  # fmt: skip


def seconds(frame: float) -> Fraction:
    return Fraction(frame * TICKS) / SCALE


def plan(
    samples: list[Sample], start: float, end: float, idr: bool = True, open_gop: bool = False
) -> CutPlan:
    return plan_cut(
        samples,
        SCALE,
        seconds(start),
        seconds(end),
        lambda i: idr and samples[i].sync,
        open_gop=open_gop,
    )


def sync_indices(samples: list[Sample]) -> tuple[int, ...]:
    return tuple(i for i, s in enumerate(samples) if s.sync)


def shown(samples: list[Sample], indices: tuple[int, ...]) -> list[int]:
    return [samples[i].pts // TICKS for i in indices]


#: Hypothesis strategies for a GOP layout and a clip of it (180 frames).
CLIP_CASES = {
    "gop": st.sampled_from([12, 30, 60]),
    "bframes": st.integers(0, 3),
    "start": st.integers(0, 170),
    "length": st.integers(1, 100),
}


def check_parts(samples: list[Sample], cut: CutPlan) -> None:
    """Each frame is re-encoded or copied once; each re-encoded one decodes from a keyframe."""
    parts = [
        *(cut.head.frames if cut.head else ()),
        *cut.copy,
        *(cut.tail.frames if cut.tail else ()),
    ]
    assert sorted(parts) == sorted(cut.frames)
    for part in (cut.head, cut.tail):
        if part is not None:
            assert samples[part.decode_from].sync
            assert all(part.decode_from <= i < part.decode_to for i in part.frames)


def test_a_clip_from_a_keyframe_to_the_next_is_copied_whole() -> None:
    samples = gops(180, 60)
    cut = plan(samples, 60, 120)
    assert cut.head is None
    assert cut.tail is None
    assert sorted(shown(samples, cut.copy)) == list(range(60, 120))
    assert cut.reencoded_frames == 0


def test_a_mid_gop_start_re_encodes_up_to_the_next_keyframe() -> None:
    samples = gops(180, 60)
    cut = plan(samples, 45.5, 120)
    assert cut.head is not None
    assert shown(samples, cut.head.frames) == list(range(46, 60))
    assert samples[cut.head.decode_from].pts == 0  # decoding starts at the GOP's I frame
    assert sorted(shown(samples, cut.copy)) == list(range(60, 120))
    assert cut.tail is None


def test_an_end_inside_a_mini_gop_re_encodes_the_frames_after_the_last_anchor() -> None:
    samples = gops(180, 60)
    # Frames 60..65: the anchor P64 is shown before 66, so 61..63 need it; 65 needs P68.
    cut = plan(samples, 60, 66)
    assert sorted(shown(samples, cut.copy)) == list(range(60, 65))
    assert cut.tail is not None
    assert shown(samples, cut.tail.frames) == [65]
    assert samples[cut.tail.decode_from].pts == 60 * TICKS
    assert cut.tail.decode_to > max(cut.tail.frames)


def test_a_clip_without_a_keyframe_is_re_encoded_whole() -> None:
    samples = gops(180, 60)
    cut = plan(samples, 61, 100)
    assert cut.copy == ()
    assert cut.tail is None
    assert cut.head is not None
    assert shown(samples, cut.head.frames) == list(range(61, 100))


def test_without_open_gop_rewriting_non_idr_keyframes_are_not_copy_points() -> None:
    samples = open_gops(180, 60)
    cut = plan(samples, 70, 130, idr=False)
    assert cut.copy == ()
    assert cut.head is not None
    # Decoding starts at the I frame at 60 although it is not an IDR (a recovery point).
    assert samples[cut.head.decode_from].pts == 60 * TICKS


def test_an_open_gop_keyframe_starts_the_copy_and_its_leading_pictures_join_the_head() -> None:
    samples = open_gops(180, 60)
    cut = plan(samples, 50, 130, idr=False, open_gop=True)
    assert shown(samples, cut.copy[:1]) == [60]
    assert min(shown(samples, cut.copy)) == 60  # B-frames 57..59 follow the I but are not copied
    assert cut.head is not None
    assert shown(samples, cut.head.frames) == list(range(50, 60))
    # The head's decoder reads through the leading pictures (after the I in decode order).
    assert cut.head.decode_to == max(cut.head.frames) + 1 > cut.copy[0]
    assert cut.tail is not None
    assert cut.reencoded_frames == 10 + len(cut.tail.frames)


def test_a_clip_starting_on_an_open_gop_keyframe_re_encodes_no_head() -> None:
    samples = open_gops(180, 60)
    cut = plan(samples, 60, 120, idr=False, open_gop=True)
    assert cut.head is None
    assert shown(samples, cut.copy[:1]) == [60]
    # 117..119 are the next keyframe's leading pictures: the tail re-encodes them.
    assert sorted(shown(samples, cut.copy)) == list(range(60, 117))
    assert cut.tail is not None
    assert shown(samples, cut.tail.frames) == [117, 118, 119]


def test_a_clip_with_no_frame_is_refused() -> None:
    samples = gops(60, 60)
    with pytest.raises(SmartCutUnsupported) as refused:
        plan(samples, 10.2, 10.8)
    assert refused.value.reason == "empty_clip"


@given(**CLIP_CASES)
def test_every_frame_is_either_copied_or_re_encoded_once(
    gop: int, bframes: int, start: int, length: int
) -> None:
    samples = gops(180, gop, bframes)
    end = min(180, start + length)
    cut = plan(samples, start, end)
    assert shown(samples, cut.frames) == list(range(start, end))
    check_parts(samples, cut)
    if cut.copy:
        first = cut.copy[0]
        assert samples[first].sync
        # The copy is a run of samples in decode order, shown contiguously.
        assert list(cut.copy) == list(range(first, first + len(cut.copy)))
        copied = sorted(shown(samples, cut.copy))
        assert copied == list(range(copied[0], copied[-1] + 1))
        if cut.head:
            assert max(shown(samples, cut.head.frames)) < copied[0]
        if cut.tail:
            assert min(shown(samples, cut.tail.frames)) > copied[-1]


@given(**CLIP_CASES)
def test_an_open_gop_clip_copies_from_its_first_keyframe_less_its_leading_pictures(
    gop: int, bframes: int, start: int, length: int
) -> None:
    samples = open_gops(180, gop, bframes)
    end = min(180, start + length)
    cut = plan(samples, start, end, idr=False, open_gop=True)
    check_parts(samples, cut)
    keyframes = sorted(f for f in shown(samples, sync_indices(samples)) if start <= f < end)
    if not keyframes:
        assert not cut.copy
        return
    assert shown(samples, cut.copy[:1]) == keyframes[:1]
    copied = sorted(shown(samples, cut.copy))
    assert copied == list(range(keyframes[0], copied[-1] + 1))
    # Re-encoded: the head, and a tail of at most the next keyframe's leading pictures.
    assert cut.reencoded_frames <= keyframes[0] - start + bframes
    if cut.head:
        # The head's decoder reads through the leading pictures that follow the keyframe.
        assert cut.head.decode_to > max(cut.head.frames)
