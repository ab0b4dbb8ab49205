"""The section ``bench.smartcut_peer`` writes: the origin's smart cut and the ``smartcut`` CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.report.figures import ms
from bench.report.page import generated_by
from bench.runner.source import SPANS
from bench.runner.stats import median, p90

BEGIN, END = "<!-- smartcut-peer -->", "<!-- /smartcut-peer -->"
ORIGIN = "origin smart cut, cold (HTTP GET, fresh connection)"
SMARTCUT = "`smartcut` CLI (PyAV), spawn to exit"


@dataclass
class Row:
    """One contender on one clip: its timed runs, what its output shows, or why it has none."""

    seconds: list[float] = field(default_factory=list)
    frames: int | None = None  # decoded from its output
    psnr_db: float | None = None  # its first frame against the source frame at the start
    last_psnr_db: float | None = None  # its last frame against the source's last in range
    size: int | None = None
    error: str | None = None


@dataclass
class Results:
    """Everything the section needs."""

    rows: dict[tuple[str, str], Row]  # (span label, contender) → row
    expected: dict[str, int]  # span label → source frames in [start, end)
    wrong_db: dict[str, float]  # span label → the origin's first frame against the one before
    start_up_s: list[float]  # `smartcut --version`, spawn to exit
    runs: int
    version: str
    install_error: str | None = None


def _psnr(db: float | None) -> str:
    if db is None:
        return "-"
    return "identical" if db == float("inf") else f"{db:.1f} dB"


def _line(label: str, name: str, row: Row, expected: int) -> str:
    if row.error is not None:
        error = row.error.replace("|", "\\|")  # a table cell
        return f"| {label} | {name} | **failed**: {error} | | | | | |"
    frames = "-" if row.frames is None else f"{row.frames} of {expected}"
    exact = "" if row.frames is None else (" (exact)" if row.frames == expected else " (**off**)")
    return (
        f"| {label} | {name} | {ms(median(row.seconds))} | {ms(p90(row.seconds))} "
        f"| {frames}{exact} | {_psnr(row.psnr_db)} | {_psnr(row.last_psnr_db)} "
        f"| {row.size or 0:,} |"
    )


def _ratios(results: Results) -> list[str]:
    out = []
    for span in SPANS:
        ours, theirs = results.rows[(span.label, ORIGIN)], results.rows[(span.label, SMARTCUT)]
        if ours.seconds and theirs.seconds:
            ratio = median(theirs.seconds) / median(ours.seconds)
            out.append(f"{span.label}: smartcut takes **{ratio:.1f}x** the origin's time")
    return out


def render(results: Results, elapsed_s: float) -> str:
    """The section, between its markers."""
    start_up = (
        f" `smartcut --version` alone (Python and PyAV starting) takes "
        f"{ms(median(results.start_up_s))} (median)."
        if results.start_up_s
        else ""
    )
    ratios = _ratios(results)
    lines = [
        BEGIN,
        "## The open-source peer: `smartcut`",
        "",
        generated_by(f".venv/bin/python -m bench.smartcut_peer --runs {results.runs}", elapsed_s),
        "",
        f"[`smartcut`](https://pypi.org/project/smartcut/) {results.version} (PyPI; PyAV, so "
        "its own FFmpeg libraries) re-encodes around the cut points and copies the rest, like "
        "the origin's smart cut. It runs from a venv of the benchmark's own "
        "(`.origin/bench/smartcut-venv`, made on first use; not a project dependency) as "
        "`smartcut SOURCE OUT --keep START,END` on the latency benchmark's source and clips, "
        "timed from spawn to exit; the origin's row is a cold GET of the same clip (cached "
        "file deleted first), as in the latency tables. After one unrecorded run each, "
        f"{results.runs} runs each, alternating which goes first. Each one's output is then "
        "checked the same way: the frames ffmpeg decodes from it against the source frames "
        "presented in `[start, end)` (read from the source's index: what the smart cut "
        "itself expects), and the PSNR (ffmpeg's `psnr` filter, Y/U/V average) of its first "
        "decoded frame against the source frame at `start`, and of its last decoded frame "
        "against the last source frame before `end`. For scale, the origin's first "
        "frame against the source frame just *before* `start` (a first frame one off): "
        + ", ".join(f"{db:.1f} dB ({label})" for label, db in results.wrong_db.items())
        + "."
        + start_up,
        "",
        "| clip | contender | time median | time p90 | frames decoded | first-frame PSNR "
        "| last-frame PSNR | bytes |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for span in SPANS:
        for name in (ORIGIN, SMARTCUT):
            lines.append(
                _line(span.label, name, results.rows[(span.label, name)],
                      results.expected[span.label])
            )  # fmt: skip
    lines += ["", ("; ".join(ratios) + ".") if ratios else "", END]
    return "\n".join(lines)
