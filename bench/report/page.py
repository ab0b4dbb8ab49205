"""docs/benchmarks.md itself: writing it whole or one marked section, and facts for its text."""

from __future__ import annotations

import argparse
import datetime
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bench.runner.processes import run_benchmark
from bench.runner.source import REPO

DOC = REPO / "docs" / "benchmarks.md"
Measured = TypeVar("Measured")


def add_output_option(parser: argparse.ArgumentParser, *, whole_page: bool = False) -> None:
    """``--output PATH``: where a benchmark writes (default docs/benchmarks.md); a
    ``whole_page`` benchmark overwrites it, the others replace their own section."""
    what = "the page to overwrite" if whole_page else "the page to write to"
    parser.add_argument(
        "--output", type=Path, default=DOC, metavar="PATH",
        help=f"{what} (default docs/benchmarks.md)",
    )  # fmt: skip


def write_page(path: Path, text: str) -> None:
    """Overwrite ``path`` with ``text``."""
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)


def write_section(path: Path, section: str, begin: str, end: str) -> None:
    """Replace the text between the markers ``begin`` and ``end`` in ``path``, or append it.

    ``section`` includes its markers.
    """
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head, found, rest = text.partition(begin)
    if found:
        _, closed, tail = rest.partition(end)
        if not closed:
            raise RuntimeError(f"{path}: {begin} without {end}")
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def generated_at() -> str:
    """Now, as the pages say when they were generated."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def dotted(function: Callable[..., Any]) -> str:
    """``package.module.name`` of ``function``: the page names the code it measures."""
    return f"{function.__module__}.{function.__qualname__}"


def first_line(argv: Sequence[str]) -> str:
    """The first line a command prints (``ffmpeg -version``, ``nginx -v`` to stderr)."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).strip().splitlines()[0]


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown"


def section_main(
    argv: Sequence[str] | None, *, prog: str, description: str | None,
    repeats: tuple[str, int, str],
    measure: Callable[[int], Measured], render: Callable[[Measured, float], str],
    begin: str, end: str,
) -> int:  # fmt: skip
    """The entry point of a benchmark that replaces its own section of the page.

    ``repeats`` is its repeat option: (name, default, what one repeat is), e.g.
    ``("runs", 7, "fresh servers per row")``; ``measure`` gets the count.
    """
    name, default, what = repeats
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(f"--{name}", type=int, default=default, help=f"{what} (default {default})")
    add_output_option(parser)
    args = parser.parse_args(argv)
    count: int = getattr(args, name)
    if count < 1:
        parser.error(f"--{name} must be at least 1")
    return run_benchmark(
        lambda: measure(count),
        render,
        lambda section: write_section(args.output, section, begin, end),
    )
