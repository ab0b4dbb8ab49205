"""What the latency run collects, and how its tables write a duration."""

from __future__ import annotations

from dataclasses import dataclass

from bench.runner.source import Span
from bench.runner.stats import median
from bench.runner.timing import Sample


@dataclass
class Results:
    """Everything the report needs."""

    samples: dict[tuple[str, str], list[Sample]]  # (span label, contender) → samples
    wrk: dict[tuple[str, str], tuple[float, int]]  # (span label, server) → (req/s, bytes)
    steps: dict[tuple[str, str], list[float]]  # (span label, cold step) → seconds
    smart_steps: dict[tuple[str, str], list[float]]  # (span label, smart-cut step) → seconds
    reencoded_s: dict[str, float]  # span label → seconds of the clip the smart cut re-encodes
    runs: int
    wrk_seconds: int


def total(results: Results, span: Span, name: str, ttfb: bool = False) -> float:
    """Median total (or TTFB) of one contender on one span."""
    samples = results.samples[(span.label, name)]
    return median([(s.ttfb_s or 0.0) if ttfb else s.total_s for s in samples])


def ms(seconds: float | None) -> str:
    """A duration in ms to three figures (in s from a second up); ``-`` for none."""
    if seconds is None:
        return "-"
    ms = seconds * 1000
    size = abs(ms)  # the "unaccounted" rows can be negative
    if size >= 1000:  # the full re-encodes
        return f"{seconds:.1f} s" if size >= 10_000 else f"{seconds:.2f} s"
    return f"{ms:.0f} ms" if size >= 100 else f"{ms:.1f} ms" if size >= 10 else f"{ms:.2f} ms"
