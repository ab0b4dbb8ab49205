"""The section ``bench.long_gop`` writes: cold smart cuts of a 1080p60 source with 4 s GOPs."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from bench.report.figures import ms
from bench.report.page import cpu_model, generated_at
from bench.runner.stats import median, p90

BEGIN, END = "<!-- long-gop -->", "<!-- /long-gop -->"
BEFORE = "c78732d"  # the last commit with the previous x264 settings
TARGET_S = 1.0  # median cold cut, issue 16
BEFORE_LABEL, AFTER_LABEL = "before", "after"


@dataclass(frozen=True)
class Cut:
    """One cold smart cut's steps, in seconds (the ffmpeg run's CPU time too)."""

    prepare_s: float
    run_s: float
    run_cpu_s: float
    assemble_s: float
    commit_s: float
    encoded_bytes: int  # what x264 wrote

    @property
    def total_s(self) -> float:
        """What the cut takes from the cache miss to the committed file."""
        return self.prepare_s + self.run_s + self.assemble_s + self.commit_s


@dataclass(frozen=True)
class Clip:
    """One clip cut with every x264 setting, and the decode-only run of its decoder inputs."""

    start: Decimal
    decoded: int  # samples in the decoder inputs
    reencoded: int  # frames of the clip that x264 writes
    decode_s: float  # the encode run with nothing encoded (wall)
    decode_cpu_s: float
    cuts: dict[str, Cut]  # by setting
    apart_s: float | None  # head and tail in two runs, one after the other; None without both

    @property
    def before(self) -> Cut:
        return self.cuts[BEFORE_LABEL]

    @property
    def after(self) -> Cut:
        return self.cuts[AFTER_LABEL]


@dataclass(frozen=True)
class Results:
    clips: list[Clip]
    length_s: int
    source: str
    settings: dict[str, str]  # label → x264 options, before first and after last
    others_busy: float  # share of the CPUs other processes kept busy while it cut


Stat = Callable[[Sequence[float]], float]
Step = Callable[[Clip, Cut], float]


def _frames(clips: Sequence[Clip], value: Callable[[Clip], int]) -> str:
    values = [value(clip) for clip in clips]
    return f"{median(values):.0f} ({min(values)}-{max(values)})"


def _both(clips: Sequence[Clip], step: Step, stat: Stat = median) -> tuple[float, float]:
    return stat([step(c, c.before) for c in clips]), stat([step(c, c.after) for c in clips])


def _ratio(clips: Sequence[Clip], step: Step, label: str) -> str:
    """The median over clips of each clip's ``step`` with ``label``'s setting ÷ before's:
    steadier than a ratio of medians when clips differ this much in size."""
    ratios = [step(c, c.cuts[label]) / step(c, c.before) for c in clips if step(c, c.before)]
    return f"{median(ratios):.2f}x" if ratios else "-"


def _verdict(seconds: float) -> str:
    return f"**{'PASS' if seconds <= TARGET_S else 'FAIL'}** ({ms(seconds)})"


def _encode_cpu(clip: Clip, cut: Cut) -> float:
    return cut.run_cpu_s - clip.decode_cpu_s


ROWS: tuple[tuple[str, Step, Stat], ...] = (
    ("**total per cold clip, median**", lambda _, cut: cut.total_s, median),
    ("total per cold clip, p90", lambda _, cut: cut.total_s, p90),
    ("prepare (plan, read the span, decoder inputs; index in memory)",
     lambda _, cut: cut.prepare_s, median),
    ("decode (the run with nothing encoded)", lambda clip, _: clip.decode_s, median),
    ("encode (the run minus the decode-only run)",
     lambda clip, cut: cut.run_s - clip.decode_s, median),
    ("ffmpeg run (decode + encode, wall)", lambda _, cut: cut.run_s, median),
    ("ffmpeg run, CPU time (user + sys)", lambda _, cut: cut.run_cpu_s, median),
    ("decode, CPU time", lambda clip, _: clip.decode_cpu_s, median),
    ("encode, CPU time (the run's minus the decode-only run's)", _encode_cpu, median),
    ("assemble (write the MP4)", lambda _, cut: cut.assemble_s, median),
    ("write (commit: rename into the cache)", lambda _, cut: cut.commit_s, median),
)  # fmt: skip


def _settings(results: Results) -> list[str]:
    """The x264 settings one change at a time: medians over every clip."""
    clips = results.clips
    lines = [
        "The x264 settings one change at a time (medians per clip; each row adds its change "
        "to the row above, *after* adds no deblocking filter (`-x264opts no-deblock=1`); the "
        "re-encoded frames' PSNR ≥ 40 dB is checked by tests/corpus/test_clips.py):",
        "",
        "| x264 settings | options | ffmpeg run | its CPU time | encode CPU time "
        "| encode CPU ÷ before's | bytes per re-encoded frame |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]

    for label, options in results.settings.items():
        cuts = [(c, c.cuts[label]) for c in clips]
        lines.append(
            f"| {label} | `{options}` | {ms(median([cut.run_s for _, cut in cuts]))} "
            f"| {ms(median([cut.run_cpu_s for _, cut in cuts]))} "
            f"| {ms(median([_encode_cpu(c, cut) for c, cut in cuts]))} "
            f"| {_ratio(clips, _encode_cpu, label)} "
            f"| {median([cut.encoded_bytes / c.reencoded for c, cut in cuts]) / 1000:.1f} kB |"
        )
    return [*lines, ""]


def _concurrency(clips: Sequence[Clip]) -> list[str]:
    """Head and tail in one run (the pool's) against two runs one after the other."""
    both = [c for c in clips if c.apart_s is not None]
    if not both:
        return []
    together = median([c.after.run_s for c in both])
    apart = median([c.apart_s for c in both if c.apart_s is not None])
    return [
        f"Head and tail: {len(both)} of the clips re-encode both. The pool encodes them in "
        "one ffmpeg run with two independent chains (input, trim, x264, file each), which "
        "ffmpeg runs in threads of their own; the same chains run as two processes one "
        f"after the other took {ms(apart)} (median, after's settings), the one run "
        f"{ms(together)}: one run ÷ two runs = {together / apart:.2f}x. On 2 CPUs both are "
        "bound by CPU time, so the one run saves at most a process start and the idle "
        "moments of each chain.",
        "",
    ]


def render(results: Results, elapsed_s: float) -> str:
    """The section, markers included."""
    clips = results.clips
    count = len(clips)
    before_total, after_total = _both(clips, lambda _, cut: cut.total_s)
    lines = [
        BEGIN,
        "## Long GOPs: cold smart cuts of 1080p60 with a keyframe every 4 s",
        "",
        f"Generated by `.venv/bin/python -m bench.long_gop --clips {count}` on "
        f"{generated_at()}; the run took {elapsed_s:.0f} s on {os.cpu_count()} CPUs "
        f"({cpu_model()}); other processes kept {results.others_busy:.0%} of the CPUs busy "
        "while it cut (/proc/stat less its own CPU time). "
        "Rerun it rather than editing this section.",
        "",
        f"- Source: {results.source}. Clips: {count} random {results.length_s} s clips "
        "starting mid-GOP (seeded: the same every run), each with up to 240 frames of GOP "
        "before its start, so the smart cut decodes and re-encodes far more than on the "
        "30 fps source above.",
        "- Each clip is cut cold once per x264 setting in this process, with the pool's own steps "
        "(`prepare`, the ffmpeg run of `encode_argv`, `assemble`, the commit; work files on "
        "the repository's filesystem, the index already in memory): **before** with the x264 "
        f"settings of commit `{BEFORE}`, **after** with today's (`pool.cutting.smart_cut."
        "ENCODER`), and with the changes between them added one at a time (the last table). "
        "All decode the same inputs (`pool/cutting/decoder_input.py`): the samples from the "
        "keyframe before the re-encoded frames, less the pictures shown before them that none "
        "of them needs (unreferenced B-frames, and the reference B-frames only their own "
        "mini-GOP uses), with one decoding thread per input.",
        "- Decode vs encode: ffmpeg decodes and encodes in separate threads, so the run is "
        "split by timing it again with every output's encoder and file replaced by the null "
        "muxer (same inputs, same frame selection, nothing encoded): *decode*; *encode* is "
        "the full run minus that, what encoding adds to the wall time. The CPU rows are the "
        "runs' own user + sys time, the figures least moved by other load on the machine.",
        "",
        "| per clip | before | after | after ÷ before (median of the clips' ratios) |",
        "|---|--:|--:|--:|",
    ]
    for label, step, stat in ROWS:
        before, after = _both(clips, step, stat)
        ratio = _ratio(clips, step, AFTER_LABEL)
        lines.append(f"| {label} | {ms(before)} | {ms(after)} | {ratio} |")
    lines += [
        f"| decoded frames (median, min-max) | {_frames(clips, lambda c: c.decoded)} | same | |",
        f"| re-encoded frames (median, min-max) | {_frames(clips, lambda c: c.reencoded)} "
        "| same | |",
        f"| target: ≤ {TARGET_S:g} s median | {_verdict(before_total)} "
        f"| {_verdict(after_total)} | |",
        "",
        *_settings(results),
        *_concurrency(clips),
        END,
    ]
    return "\n".join(lines)
