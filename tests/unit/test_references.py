"""The reference simulation (pool.mp4.references) on hand-made streams: what a decoder needs,
how the kept pictures are renumbered, and what it refuses. Real x264 streams, decoded by
ffmpeg, are tests/unit/test_decoder_input.py's."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pool.mp4.h264_params import Sps, SpsFormat
from pool.mp4.references import Picture, UnsupportedReferences, plan_decode
from pool.mp4.slices import NAL_IDR, NAL_NON_IDR, Mmco, SliceHeader

P, B, INTRA = 0, 1, 2  # slice_type % 5
SPS = Sps(
    sps_id=0, format=SpsFormat(100, 40, 1, 8), separate_colour_plane=False,
    log2_max_frame_num=4, poc_type=0, log2_max_poc_lsb=6, max_num_ref_frames=2,
    gaps_allowed=False, gaps_flag_at=0, frame_mbs_only=True,
)  # fmt: skip
HEADER = SliceHeader(
    nal_header=0x60 | NAL_NON_IDR, slice_type=P, pps_id=0, frame_num=0, frame_num_at=0,
    idr_pic_id=None, idr_pic_id_span=(4, 4), poc_lsb=0, poc_lsb_at=4, poc_lsb_width=6,
    poc_bottom_delta=0, ref_idx_active=(1, 0), modifications=((), ()),
    modification_flags=(False, False), modification_span=(0, 0), marking_span=(0, 0),
    mmcos=None, long_term_reference=False, end=0, cabac=True,
)  # fmt: skip


def picture(key: int, kind: int, frame_num: int, poc: int, **fields: object) -> Picture:
    """One single-slice picture: ``kind`` P, B or I; a reference unless ``reference=False``."""
    reference = fields.pop("reference", True)
    nal_type = NAL_IDR if fields.pop("idr", False) else NAL_NON_IDR
    active = {P: (1, 0), B: (1, 1), INTRA: (0, 0)}[kind]
    header = replace(
        HEADER,
        nal_header=(0x60 if reference else 0) | nal_type,
        slice_type=kind,
        frame_num=frame_num,
        poc_lsb=poc,
        ref_idx_active=active,
        **fields,  # type: ignore[arg-type]
    )
    return Picture(key, SPS, (header,))


def pyramid() -> list[Picture]:
    """x264's shape: I0, P(shown 8), reference B(4), b(2), b(6), P(16) naming the first P."""
    return [
        picture(0, INTRA, 0, 0, idr=True),
        picture(1, P, 1, 16),
        picture(2, B, 2, 8),
        picture(3, B, 3, 4, reference=False),
        picture(4, B, 3, 12, reference=False),
        # picNum 1 (the first P) from frame_num 3: abs_diff_pic_num_minus1 1, past the B.
        picture(5, P, 3, 32, modifications=(((0, 1),), ())),
    ]


def test_a_reference_b_frame_nothing_needs_is_left_out_and_the_rest_renumbered() -> None:
    plan = plan_decode(pyramid(), targets=[5])
    assert plan.keys == [0, 1, 5]
    (header,) = plan.headers[5]
    # One reference picture fewer before it: frame_num 2, and the first P is now picNum 1
    # from 2: abs_diff_pic_num_minus1 0.
    assert header.frame_num == 2
    assert header.modifications == (((0, 0),), ())
    assert set(plan.headers) == {5}  # the pictures before the one left out stay as they are


def test_a_picture_listed_twice_stays_listed_twice() -> None:
    # GStreamer's x264enc lists a reference twice (for two weights): the second
    # modification goes a whole turn of frame_num back (abs_diff_pic_num_minus1 15).
    stream = pyramid()
    twice = replace(
        stream[5].slices[0], modifications=(((0, 1), (0, 15)), ()), ref_idx_active=(2, 0)
    )
    stream[5] = replace(stream[5], slices=(twice,))
    plan = plan_decode(stream, targets=[5])
    assert plan.keys == [0, 1, 5]
    assert plan.headers[5][0].modifications == (((0, 0), (0, 15)), ())


def test_what_the_targets_refer_to_is_kept() -> None:
    # The B-frame shown at 12 refers to the reference B (list 0) and to the P at 16.
    plan = plan_decode(pyramid(), targets=[4])
    assert plan.keys == [0, 1, 2, 4]
    assert plan.headers == {}


def test_marking_that_names_a_picture_left_out_goes() -> None:
    stream = pyramid()
    # The second P unmarks the reference B (picNum 2 from 3: difference_of_pic_nums_minus1 0).
    stream[5] = replace(stream[5], slices=(replace(stream[5].slices[0], mmcos=(Mmco(1, (0,)),)),))
    plan = plan_decode(stream, targets=[5])
    assert plan.keys == [0, 1, 5]
    assert plan.headers[5][0].mmcos is None  # nothing left to unmark: the sliding window


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (pyramid()[1:], "do not start with an IDR"),
        (
            [*pyramid()[:5], replace(pyramid()[5], slices=(
                replace(pyramid()[5].slices[0], mmcos=(Mmco(2, (0,)),)),))],
            "memory_management_control_operation 2",
        ),
        ([replace(p, sps=replace(SPS, poc_type=1)) for p in pyramid()], "pic_order_cnt_type 1"),
        # frame_num 5 after 1: a gap the source itself has.
        ([*pyramid()[:2], picture(9, P, 5, 24)], "frame_num gap"),
    ],
    ids=["no-idr", "long-term", "poc-type-1", "gap"],
)  # fmt: skip
def test_what_is_not_simulated_is_refused(stream: list[Picture], reason: str) -> None:
    with pytest.raises(UnsupportedReferences, match=reason):
        plan_decode(stream, targets=[stream[-1].key])


@given(st.lists(st.booleans(), min_size=4, max_size=40))
def test_a_chain_of_p_frames_is_kept_whatever_the_b_frames_and_frame_num_wrapping(
    reference_bs: list[bool],
) -> None:
    # P-frames, each naming the one before by a list modification, some followed by a
    # reference B-frame between the two; frame_num wraps at 16 in streams this long.
    stream = [picture(0, INTRA, 0, 0, idr=True)]
    frame_num, previous_p = 0, 0
    for n, with_b in enumerate(reference_bs, start=1):
        frame_num += 1
        back = frame_num - previous_p - 1  # pictures between this one and the last P
        p_frame = picture(2 * n, P, frame_num % 16, (8 * n) % 64, modifications=(((0, back),), ()))
        stream.append(p_frame)
        previous_p = frame_num
        if with_b:
            frame_num += 1
            stream.append(picture(2 * n + 1, B, frame_num % 16, (8 * n - 4) % 64))
    plan = plan_decode(stream, targets=[stream[-1].key if not reference_bs[-1] else stream[-2].key])
    assert plan.keys == [p.key for p in stream if p.key % 2 == 0]
