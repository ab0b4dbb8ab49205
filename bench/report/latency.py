"""The page ``bench.clip_latency`` writes: method, latency tables, targets, breakdowns, wrk."""

from __future__ import annotations

import os
from functools import partial

from bench.contenders import (
    LINEUP,
    full_reencode,
    keep_alive,
    nginx_mp4,
    origin_editlist,
    origin_smart_cut,
    origin_warm,
    raw_ffmpeg,
    wrk_throughput,
)
from bench.report import breakdown
from bench.report.figures import Results, ms, total
from bench.report.page import cpu_model, dotted, first_line, generated_at
from bench.runner.source import REPO, SOURCE, SOURCE_FPS, SPANS, Span
from bench.runner.stats import median, p90
from pool.sources.probe import ProbeResult
from pool.sources.sample import make_sample

COLD_TARGET = 1.5  # origin cold (file mode, edit list) total ÷ raw ffmpeg
WARM_TARGET = 3.0  # origin warm total ÷ nginx mp4 module

RAW = raw_ffmpeg.CONTENDER.label
COLD = origin_editlist.CONTENDER.label
SMART = origin_smart_cut.CONTENDER.label
WARM = origin_warm.CONTENDER.label
NGINX = nginx_mp4.PLAIN.label
#: Client style → the rows its ratios are taken from: (cold, warm, nginx).
CLIENTS = {
    "fresh connection": (COLD, WARM, NGINX),
    "keep-alive": (keep_alive.COLD.label, keep_alive.WARM.label, keep_alive.NGINX.label),
}


def _verdict(ratio: float, target: float) -> str:
    return "**PASS**" if ratio <= target else "**FAIL**"


def _method(results: Results, facts: ProbeResult, ffmpeg: str) -> list[str]:
    """ "Method": the machine, the source, the clips, the contenders, the client."""
    size = SOURCE.stat().st_size
    gaps = [b - a for a, b in zip(facts.keyframes, facts.keyframes[1:], strict=False)]
    return [
        "## Method",
        "",
        f"- **Machine**: {len(os.sched_getaffinity(0))} CPUs (`nproc`), {cpu_model()}; "
        f"{first_line([ffmpeg, '-version'])} (the origin's own, from the `imageio-ffmpeg` wheel); "
        f"{first_line(['nginx', '-v'])}.",
        f"- **Source**: `{dotted(make_sample)}`, {facts.width}x{facts.height} {SOURCE_FPS} fps "
        f"{facts.video_codec} (x264 `veryfast`, B-frames on) + {facts.audio_codec}, "
        f"{facts.duration:.1f} s, keyframe every {median(gaps):.1f} s, "
        f"{size / 1e6:.1f} MB ({size * 8 / facts.duration / 1e6:.1f} Mb/s), `+faststart`. "
        f"Generated once (about 2 min on 2 CPUs) into `{SOURCE.relative_to(REPO)}` and reused.",
        "- **Clips**: "
        + ", ".join(f"{s.label} `[{s.start}, {s.end})`" for s in SPANS)
        + "; both start mid-GOP, so the copy starts at the keyframe before the cut.",
        "- **Contenders**, each run once per iteration in a rotating order (after one unrecorded "
        "warm-up pass), all on 127.0.0.1, except the full re-encode: it runs after all the "
        "others, its runs in a row, so that its seconds of full CPU do not land before the "
        "same fast contender in every rotation:",
        *(f"  - *{c.label}*: {c.method}" for c in LINEUP),
        "  - After the runs, each server's log must show one cut (`ffmpeg_run`, or `smart_cut` "
        "with no fallback) per cold request, or the benchmark fails.",
        "- **Client**: a raw socket, a fresh connection per request (`Connection: close`), "
        "and for the rows marked *keep-alive* one connection per server kept open. "
        "TTFB = first *body* byte; total = last byte. The section *Client styles* sets "
        "more clients (curl, `http.client`) side by side.",
        f"- Figures are **medians (and p90) of {results.runs} runs** ("
        f"{min(results.runs, full_reencode.RUNS)} for the full re-encode). The machine is small "
        "and shared: **ratios matter more than absolutes**.",
        "",
    ]


def _latency_table(results: Results, span: Span) -> list[str]:
    """One clip's latency table, every contender, and what the origin sends more than nginx."""
    out = [
        f"### {span.label} clip `[{span.start}, {span.end})`",
        "",
        "| contender | TTFB median | TTFB p90 | total median | total p90 | bytes |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for contender in LINEUP:
        samples = results.samples[(span.label, contender.label)]
        ttfbs = [s.ttfb_s for s in samples if s.ttfb_s is not None]
        totals = [s.total_s for s in samples]
        out.append(
            f"| {contender.label} | {ms(median(ttfbs) if ttfbs else None)} "
            f"| {ms(p90(ttfbs) if ttfbs else None)} | {ms(median(totals))} "
            f"| {ms(p90(totals))} | {samples[-1].size:,} |"
        )
    ours = results.samples[(span.label, COLD)][-1].size
    theirs = results.samples[(span.label, NGINX)][-1].size
    return [
        *out,
        "",
        f"The origin sends {(ours - theirs) / 1e6:.2f} MB ({ours / theirs - 1:.0%}) more than "
        "nginx: its copy starts at the keyframe before the cut and an edit list hides the "
        "pre-roll, so the first frame is exact; plain nginx starts at the sample at `start`, "
        "a non-keyframe, so the start of its video is broken (nginx's docs, NOTES.md). "
        "With `mp4_start_key_frame on` nginx also sends the pre-roll behind an edit list.",
        "",
    ]


def _targets(results: Results) -> list[str]:
    """ "Targets": the ratios of total medians the origin is held to."""
    out = [
        "## Targets",
        "",
        "| ratio (of total medians) | clip | value | target | result |",
        "|---|---|--:|--:|---|",
    ]
    for span in SPANS:
        median_of = partial(total, results, span)
        smart = median_of(SMART) / median_of(COLD)
        for client, (cold_row, warm_row, nginx_row) in CLIENTS.items():
            cold = median_of(cold_row) / median_of(RAW)
            warm = median_of(warm_row) / median_of(nginx_row)
            out.append(
                f"| origin cold (file, edit list) ÷ raw ffmpeg, {client} | {span.label} "
                f"| {cold:.2f}x | ≤ {COLD_TARGET}x | {_verdict(cold, COLD_TARGET)} |"
            )
            out.append(
                f"| origin warm ÷ nginx mp4, {client} | {span.label} | {warm:.2f}x "
                f"| ≤ {WARM_TARGET}x | {_verdict(warm, WARM_TARGET)} |"
            )
        out.append(
            f"| origin cold, smart cut ÷ edit list | {span.label} | {smart:.2f}x | — "
            "| informational |"
        )
    out.append("")
    return out


def _throughput(results: Results) -> list[str]:
    """ "Warm throughput", when wrk ran."""
    if not results.wrk:
        return []
    out = [
        f"## Warm throughput (wrk, 2 threads, 8 connections, {results.wrk_seconds} s)",
        "",
        "The client shares the 2 CPUs with the server under test.",
        "",
        "| clip | server | requests/s | throughput | vs nginx mp4 |",
        "|---|---|--:|--:|--:|",
    ]
    for span in SPANS:
        rows = {k[1]: v for k, v in results.wrk.items() if k[0] == span.label}
        base = rows[wrk_throughput.NGINX]
        for server, (rps, body) in rows.items():
            out.append(
                f"| {span.label} | {server} | {rps:,.1f} | {rps * body / 1e9:.2f} GB/s "
                f"| {rps * body / (base[0] * base[1]):.2f} |"
            )
    out.append("")
    return out


def render(results: Results, facts: ProbeResult, elapsed_s: float, ffmpeg: str) -> str:
    """The whole of docs/benchmarks.md."""
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`.venv/bin/python -m bench.clip_latency "
        f"--runs {results.runs}`) on {generated_at()}; the run took {elapsed_s:.0f} s. "
        "Rerun it rather than editing this file.",
        "",
        *_method(results, facts, ffmpeg),
        "## Latency",
        "",
    ]
    for span in SPANS:
        out += _latency_table(results, span)
    out += _targets(results)
    out += breakdown.sections(results)
    out += _throughput(results)
    return "\n".join(out)
