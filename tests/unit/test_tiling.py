from decimal import Decimal as D

import pytest

from db.errors import EditRefused
from db.tiling import boundaries_every, boundaries_from_cuts, fmt_time, to_time

FRAME = D(1) / 30


def test_every_divides_evenly() -> None:
    assert boundaries_every(D(30), D(10), FRAME) == [0, 10, 20, 30]


def test_every_keeps_a_short_last_clip() -> None:
    assert boundaries_every(D(25), D(10), FRAME) == [0, 10, 20, 25]


def test_every_folds_a_remainder_shorter_than_a_frame() -> None:
    assert boundaries_every(D("30.01"), D(10), FRAME) == [0, 10, 20, D("30.01")]


def test_every_longer_than_the_source_is_one_clip() -> None:
    assert boundaries_every(D(5), D(10), FRAME) == [0, 5]


@pytest.mark.parametrize("every", [D(0), D(-1)])
def test_every_must_be_positive(every: D) -> None:
    with pytest.raises(EditRefused):
        boundaries_every(D(30), every, FRAME)


def test_cuts_are_sorted() -> None:
    assert boundaries_from_cuts(D(30), [D(20), D(5)], FRAME) == [0, 5, 20, 30]


@pytest.mark.parametrize("cut", [D(0), D(30), D(-1), D(31)])
def test_cuts_must_be_inside(cut: D) -> None:
    with pytest.raises(EditRefused, match="outside"):
        boundaries_from_cuts(D(30), [cut], FRAME)


def test_duplicate_cuts_make_empty_clips() -> None:
    with pytest.raises(EditRefused, match="shorter than one frame"):
        boundaries_from_cuts(D(30), [D(5), D(5)], FRAME)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1.5", D("1.500000")), (2, D(2)), ("0.0000004", D(0)), ("12.3456789", D("12.345679"))],
)
def test_to_time_rounds_to_microseconds(raw: str | int, expected: D) -> None:
    assert to_time(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "nan", "inf", "-inf", "1e400000", "1,5"])
def test_to_time_refuses_non_numbers(raw: str) -> None:
    with pytest.raises(EditRefused):
        to_time(raw)


@pytest.mark.parametrize(
    ("value", "text"), [(D("12.500000"), "12.5"), (D("20.000000"), "20"), (D(0), "0")]
)
def test_fmt_time(value: D, text: str) -> None:
    assert fmt_time(value) == text
