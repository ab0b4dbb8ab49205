"""Pure arithmetic of cut points; the database re-checks everything it decides."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from db.errors import EditRefused

#: Times are stored as numeric(14, 6): microseconds, below 10⁸ s.
QUANTUM = Decimal("0.000001")
LIMIT = Decimal(10) ** 8


def to_time(value: str | float | Decimal, *, what: str = "time") -> Decimal:
    """Parse a time in seconds, rounded to the stored precision; refuse non-finite values."""
    try:
        parsed = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise EditRefused(f"{what} must be a number of seconds, got {value!r}") from None
    if not parsed.is_finite():
        raise EditRefused(f"{what} must be a finite number of seconds, got {value!r}")
    if abs(parsed) >= LIMIT:
        raise EditRefused(f"{what} is out of range: {value!r}")
    return parsed.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


def fmt_time(value: Decimal) -> str:
    """A time for messages: ``12.5``, not ``12.500000``."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def boundaries_every(duration: Decimal, every: Decimal, min_clip: Decimal) -> list[Decimal]:
    """Clip boundaries [0, every, 2·every, …, duration].

    A remainder shorter than ``min_clip`` (one frame) joins the previous clip
    rather than becoming a clip nobody can play.
    """
    if every <= 0:
        raise EditRefused(f"--every must be positive, got {every}")
    points = [Decimal(0)]
    while points[-1] + every < duration:
        points.append(points[-1] + every)
    if len(points) > 1 and duration - points[-1] < min_clip:
        points.pop()
    points.append(duration)
    return points


def boundaries_from_cuts(
    duration: Decimal, cuts: Iterable[Decimal], min_clip: Decimal
) -> list[Decimal]:
    """Clip boundaries from explicit interior cut points (any order, no duplicates)."""
    inner = sorted(cuts)
    for cut in inner:
        if not 0 < cut < duration:
            raise EditRefused(f"cut {cut} is outside (0, {duration})")
    points = [Decimal(0), *inner, duration]
    for a, b in itertools.pairwise(points):
        if b - a < min_clip:
            raise EditRefused(
                f"cuts {a} and {b} would make a clip shorter than one frame ({min_clip:.6f} s)"
            )
    return points
