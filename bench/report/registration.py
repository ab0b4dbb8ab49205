"""The section ``bench.registration`` writes: probing a two-hour source, index against scan."""

from __future__ import annotations

from dataclasses import dataclass

from bench.report.figures import ms
from bench.report.page import dotted, generated_by
from bench.runner.long_source import LONG_FPS, LONG_SECONDS, LONG_SIZE, LONG_SOURCE
from bench.runner.source import REPO
from bench.runner.stats import median
from origin.registration import examine
from pool.sources.probe import probe

BEGIN, END = "<!-- registration -->", "<!-- /registration -->"
INDEX = f"registration's probe, in process (`{dotted(examine)}`)"
SCAN = f"full packet scan, in process (`{dotted(probe)}`: ffmpeg lists every packet)"
CLI = "`origin sources add URI --json`, end to end"
BASELINE = "`origin sources list --json`, end to end (interpreter, imports, database: for scale)"


@dataclass
class Row:
    """One way of probing one source: seconds per run and bytes of the source it read."""

    source: str
    what: str
    seconds: list[float]
    bytes_read: int
    file_bytes: int
    agrees: bool | None = None  # the index's facts equal the scan's (where both ran)


@dataclass(frozen=True)
class Results:
    """Everything the section needs."""

    rows: list[Row]
    runs: int
    long_bytes: int
    long_samples: dict[str, int]  # handler ("vide", "soun") → samples in the 2 h source


def _bytes(n: int) -> str:
    if not n:
        return "-"
    return f"{n / 1e6:,.1f} MB" if n >= 1e6 else f"{n / 1e3:,.1f} kB"


def _share(row: Row) -> str:
    return f"{row.bytes_read / row.file_bytes:.2%}" if row.bytes_read else "-"


def _agrees(row: Row) -> str:
    if row.agrees is None:
        return ""
    return "yes" if row.agrees else "**no**"


def render(results: Results, elapsed_s: float) -> str:
    """The section, between its markers."""
    lines = [
        BEGIN,
        "## Registration: reading the index, not the file",
        "",
        generated_by(f".venv/bin/python -m bench.registration --runs {results.runs}", elapsed_s),
        "",
        f"- **The 2 h source**: `{LONG_SOURCE.relative_to(REPO)}`, {LONG_SECONDS} s of "
        f"{LONG_SIZE} at {LONG_FPS} fps ({results.long_samples.get('vide', 0):,} video "
        f"samples, {results.long_samples.get('soun', 0):,} audio samples), "
        f"{_bytes(results.long_bytes)}: the bench source's recipe (testsrc2 and a sine, "
        "x264 `veryfast` with B-frames, a keyframe every 2 s, AAC 96 kb/s, `+faststart`) "
        "with small pictures, as what registration reads grows with the number of samples, "
        "not their size. Generated once (about 2 min on 2 CPUs) and reused.",
        "- **S3**: moto's server mode on loopback (path-style), the same file uploaded once "
        "and copied to a new key per CLI run; the probe reads it with range requests.",
        "- **In process**: what `origin sources add` runs to probe and judge a source "
        "(the index from the `moov`, the first bytes of a few keyframes to judge the smart "
        "cut), against ffmpeg's full packet scan, which registration ran before; the "
        "*agrees* column says whether the scan's frame count, keyframes and duration equal "
        "the index's. **End to end**: the CLI in a fresh interpreter against a running "
        "private cluster, storing the source cut every 10 s (720 clips for 2 h); each run "
        "registers a new name for the same bytes (a hard link, an S3 copy). Bytes read "
        "are what the CLI reports as `probe_bytes`.",
        "",
        "| source | what | median | min | bytes read | of the file | agrees with the scan |",
        "|---|---|--:|--:|--:|--:|---|",
    ]
    for row in results.rows:
        lines.append(
            f"| {row.source} | {row.what} | {ms(median(row.seconds))} | {ms(min(row.seconds))} "
            f"| {_bytes(row.bytes_read)} | {_share(row)} "
            f"| {_agrees(row)} |"
        )
    lines += ["", END]
    return "\n".join(lines)
