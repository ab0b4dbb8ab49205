"""Where the first-play trials edit: pairs of clips packed onto copies of the source.

Each trial moves the cut between a clip A and its successor B from a
keyframe to :data:`SHIFT_S` past it, so B's new version starts mid-GOP
(its smart cut re-encodes the rest of that GOP, 0.6 s, like the latency
benchmark's spans) and lasts exactly the trial's length. Every trial has a
pair of its own, so no version it asks for can be in any cache but by
warming. A 300 s source holds four 60 s pairs, so the trials need several
registrations of it: hard links under other names (a source is known by
its path), whose bytes and page cache are one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from bench.runner.origin import add_source
from bench.runner.source import KEYFRAME_EVERY_S, SOURCE_SECONDS

SHIFT_S = Decimal("1.4")  # where the moved cut lands past a keyframe (GOPs are 2 s)
MIN_A_S = Decimal(2)  # clip A lasts at least this long (a clip must not vanish)
USABLE_S = Decimal(SOURCE_SECONDS - 1)  # pairs end before this: the last frame ends near 300 s
GOP = Decimal(str(KEYFRAME_EVERY_S))


@dataclass(frozen=True)
class Slot:
    """One planned pair: the keyframe ``cut`` between A and B, and B's end."""

    length: Decimal  # B's length once the cut has moved
    cut: Decimal

    @property
    def moved_to(self) -> Decimal:
        """Where the trial's edit moves the cut (mid-GOP)."""
        return self.cut + SHIFT_S

    @property
    def end(self) -> Decimal:
        """B's end; B runs from :attr:`moved_to` to here after the edit."""
        return self.moved_to + self.length


@dataclass
class Plan:
    """The pairs of one registration, in source order."""

    slots: list[Slot] = field(default_factory=list)

    def place(self, length: Decimal) -> bool:
        """Add a pair of ``length`` after the last one if the source has room; whether it did."""
        after = self.slots[-1].end if self.slots else Decimal(0)
        # The first keyframe at least MIN_A_S further on.
        cut = ((after + MIN_A_S) / GOP).to_integral_value(rounding=ROUND_CEILING) * GOP
        slot = Slot(length, cut)
        if slot.end > USABLE_S:
            return False
        self.slots.append(slot)
        return True


def plan(lengths: Iterable[Decimal]) -> list[Plan]:
    """Pack one pair per length onto as few copies of the source as first fit manages."""
    plans: list[Plan] = []
    for length in sorted(lengths, reverse=True):  # the long ones first leave the best gaps
        if not any(p.place(length) for p in plans):
            plans.append(Plan())
            if not plans[-1].place(length):
                raise ValueError(f"a {length} s pair does not fit in the source")
    return plans


@dataclass(frozen=True)
class Pair:
    """One registered pair, ready for its trial."""

    length: Decimal
    a: int  # id of the clip before the cut: the edit goes through it
    b: int  # id of the clip after it: the one whose new version is played
    moved_to: Decimal
    warm_jobs: int  # warm jobs its edit defers with warming on: A, B and their neighbours


def _pair(slot: Slot, clips: Sequence[Mapping[str, Any]]) -> Pair:
    starts = [Decimal(str(c["start"])) for c in clips]
    b = starts.index(slot.cut)
    # The edit warms the changed clips (A, B), then the clip before A and the one after B.
    neighbours = (b - 1 > 0) + (b + 1 < len(clips))
    return Pair(slot.length, clips[b - 1]["id"], clips[b]["id"], slot.moved_to, 2 + neighbours)


def linked(source: Path, copy: Path) -> Path:
    """``copy``: a hard link to ``source`` (a copy across file systems)."""
    try:
        os.link(source, copy)
    except OSError:
        shutil.copyfile(source, copy)
    return copy


def register(
    env: Mapping[str, str], source: Path, copies: Path, name: str, plans: Sequence[Plan]
) -> tuple[list[Pair], int]:
    """Register one copy of ``source`` per plan, cut at its pairs' edges (``copies/<name>-N``).

    The pairs, by length in the order of ``plans``, and how many clips the
    registrations made (each one queues a warm job when a store is on).
    """
    pairs: list[Pair] = []
    made = 0
    copies.mkdir(exist_ok=True)
    for n, one in enumerate(plans):
        copy = linked(source, copies / f"{name}-{n}{source.suffix}")
        cuts = sorted({t for s in one.slots for t in (s.cut, s.end)})
        clips = add_source(env, copy, "--cuts", ",".join(str(t) for t in cuts))
        clips.sort(key=lambda c: c["start"])
        pairs += [_pair(slot, clips) for slot in one.slots]
        made += len(clips)
    return pairs, made


def by_length(pairs: Iterable[Pair]) -> dict[Decimal, list[Pair]]:
    """The pairs grouped by length, each group in registration order."""
    grouped: dict[Decimal, list[Pair]] = {}
    for pair in pairs:
        grouped.setdefault(pair.length, []).append(pair)
    return grouped
