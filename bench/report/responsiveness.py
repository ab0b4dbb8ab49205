"""The section ``bench.responsiveness`` writes: cheap answers, idle against a saturated pool."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report.page import cpu_model, generated_at
from bench.runner.stats import median, percentile
from bench.saturation.clips import CLIP_EVERY_S
from bench.saturation.model import (
    FULL,
    HEALTH,
    IDLE,
    LOAD_CLIENTS,
    MAX_PROCESSES,
    NICE_DEFAULT,
    NOT_FOUND,
    NOT_MODIFIED,
    PHASES,
    QUEUE_TIMEOUT_S,
    RANGE,
    REDIRECT,
    REJECTED,
    Phase,
)
from bench.saturation.phase import LAG_METRIC
from bench.saturation.procfs import AUTOGROUP

BEGIN, END = "<!-- responsiveness -->", "<!-- /responsiveness -->"
TARGET = 3.0  # saturated p99 ÷ idle p99, with ffmpeg niced (the default)
IDLE_BUSY_WARNING = 0.3


@dataclass
class Results:
    """Everything the report needs."""

    phases: dict[str, Phase]
    clip_bytes: int  # size of the warm clip
    load_clips: int
    seconds: float
    rate: float


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.0f}" if abs(ms) >= 100 else f"{ms:.1f}" if abs(ms) >= 10 else f"{ms:.2f}"


def _late(kind: str) -> float:
    # A 429's latency is mostly the queue timeout it is meant to wait: what
    # counts is how late it comes after it.
    return QUEUE_TIMEOUT_S if kind == REJECTED else 0.0


def _latencies(phase: Phase, kind: str) -> list[float]:
    return [a.seconds - _late(kind) for a in phase.answers.get(kind, [])]


def _p50_p99(values: Sequence[float]) -> str:
    return f"{_ms(median(values))} / {_ms(percentile(values, 99))}" if values else "—"


def _results_rows(results: Results) -> list[str]:
    idle = results.phases[IDLE]
    out = [
        f"| answer (ms, p50 / p99) | idle | saturated, nice=0 | saturated, nice={NICE_DEFAULT} "
        f"| p99 ÷ idle p99, nice=0 | p99 ÷ idle p99, nice={NICE_DEFAULT} "
        f"| nice={NICE_DEFAULT} ≤ {TARGET:g}x idle | samples (idle / 0 / {NICE_DEFAULT}) |",
        "|---|--:|--:|--:|--:|--:|---|--:|",
    ]
    for kind in (RANGE, FULL, NOT_MODIFIED, REDIRECT, NOT_FOUND, HEALTH, REJECTED):
        cells = [_latencies(results.phases[p], kind) for p in PHASES]
        # No 429 without a busy pool: its lateness is set against the idle
        # 302, the same lookup without the wait.
        base = percentile(_latencies(idle, REDIRECT if kind == REJECTED else kind), 99)
        ratios = [percentile(c, 99) / base for c in cells[1:]]
        verdict = "**PASS**" if ratios[1] <= TARGET else "**FAIL**"
        out.append(
            f"| {kind} | " + " | ".join(_p50_p99(c) for c in cells)
            + f" | {ratios[0]:.1f}x | {ratios[1]:.1f}x "
            + f"| {'diagnostic' if kind == HEALTH else verdict} "
            + "| " + " / ".join(str(len(c)) for c in cells) + " |"
        )  # fmt: skip
    return out


def _saturation_rows(results: Results) -> list[str]:
    out = [
        "| phase | CPU busy (all CPUs) | of it niced | `/status/pool` polls with 2 active "
        "| mean waiting | cold smart cuts/s | load's 429s | sampler's cold requests given a slot |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name in PHASES:
        phase = results.phases[name]
        full = sum(1 for p in phase.polls if p.active == MAX_PROCESSES)
        waiting = statistics.fmean(p.waiting for p in phase.polls)
        out.append(
            f"| {name} | {phase.cpu_busy:.0%} | {phase.cpu_nice / phase.cpu_busy:.0%} "
            f"| {full}/{len(phase.polls)} | {waiting:.1f} "
            f"| {phase.cuts / phase.seconds:.1f} | {phase.load_429} | {phase.probes_slotted} |"
        )
    return out


def _idle_warning(idle: Phase) -> list[str]:
    # The sampler and the idle server alone keep the CPUs ~15 % busy.
    if idle.cpu_busy < IDLE_BUSY_WARNING:
        return []
    return [
        f"**Warning**: the CPUs were {idle.cpu_busy:.0%} busy in the idle phase: something else "
        "ran on the machine, and the idle baseline is not idle. Run it again.",
        "",
    ]


def _split_rows(results: Results) -> list[str]:
    """Per kind and phase, p50/p99 of the server's own time and of the rest of the latency."""
    out = [
        "| answer (ms, p50 / p99) | "
        + " | ".join(f"{p}: in the app | {p}: outside" for p in PHASES)
        + " |",
        "|---|" + "--:|" * (2 * len(PHASES)),
    ]
    for kind in (RANGE, NOT_MODIFIED, REDIRECT, NOT_FOUND, HEALTH, REJECTED):
        cells = []
        for name in PHASES:
            phase = results.phases[name]
            pairs = [
                (phase.app_s[a.request_id], a.seconds - phase.app_s[a.request_id])
                for a in phase.answers.get(kind, [])
            ]
            cells += [
                _p50_p99([app - _late(kind) for app, _ in pairs]),
                _p50_p99([rest for _, rest in pairs]),
            ]
        out.append(f"| {kind} | " + " | ".join(cells) + " |")
    return out


def _without_client_wait(phase: Phase, kind: str) -> list[float]:
    return [a.seconds - _late(kind) - a.client_wait_s for a in phase.answers.get(kind, [])]


def _wait_rows(results: Results) -> list[str]:
    """Per kind: the sampler's and the event loop's CPU waits, and latency without the former."""
    saturated = PHASES[1:]
    out = [
        "| answer (ms, p50 / p99) | "
        + " | ".join(f"{p}: sampler's wait | {p}: event loop's wait" for p in PHASES)
        + " | "
        + " | ".join(f"{p}: latency - sampler's wait" for p in PHASES)
        + " | "
        + " | ".join(f"its p99 ÷ idle's, {p.removeprefix('saturated, ')}" for p in saturated)
        + " |",
        "|---|" + "--:|" * (3 * len(PHASES) + len(saturated)),
    ]
    idle = results.phases[IDLE]
    for kind in (RANGE, FULL, NOT_MODIFIED, REDIRECT, NOT_FOUND, HEALTH, REJECTED):
        waits, adjusted = [], []
        for name in PHASES:
            answers = results.phases[name].answers.get(kind, [])
            waits += [
                _p50_p99([a.client_wait_s for a in answers]),
                _p50_p99([a.loop_wait_s for a in answers]),
            ]
            adjusted.append(_without_client_wait(results.phases[name], kind))
        # As in the first table: a 429 against the idle 302.
        base = percentile(_without_client_wait(idle, REDIRECT if kind == REJECTED else kind), 99)
        ratios = [f"{percentile(a, 99) / base:.1f}x" for a in adjusted[1:]]
        out.append(
            f"| {kind} | " + " | ".join(waits) + " | "
            + " | ".join(_p50_p99(a) for a in adjusted) + " | " + " | ".join(ratios) + " |"
        )  # fmt: skip
    return out


def _sched_rows(results: Results) -> list[str]:
    out = [
        "| phase | event-loop lag: mean | event-loop lag: p99 | event loop thread: CPU "
        "| its wait for a CPU per wake-up (mean) | its wait, share of the phase "
        "| server's other threads: CPU | sampler thread: wait per wake-up "
        "| ffmpeg seen niced, in the server's autogroup |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name in PHASES:
        phase = results.phases[name]
        loop, own = phase.loop, phase.sampler
        seen = sum(p.ffmpeg for p in phase.polls)
        niced = sum(p.ffmpeg_niced for p in phase.polls)
        p99 = phase.lag.bound(0.99)
        out.append(
            f"| {name} | {_ms(phase.lag.sum_s / max(phase.lag.count, 1))} ms "
            f"| {f'≤ {_ms(p99)} ms' if p99 != float('inf') else '> 1 s'} "
            f"| {loop.run_ns / 1e9 / phase.seconds:.0%} "
            f"| {_ms(loop.wait_ns / 1e9 / max(loop.slices, 1))} ms "
            f"| {loop.wait_ns / 1e9 / phase.seconds:.1%} "
            f"| {phase.workers.run_ns / 1e9 / phase.seconds:.0%} "
            f"| {_ms(own.wait_ns / 1e9 / max(own.slices, 1))} ms "
            f"| {f'{niced}/{seen}' if seen else '—'} |"
        )
    return out


def render(results: Results, elapsed_s: float) -> str:
    """The section of docs/benchmarks.md between the markers (markers included)."""
    per_kind = results.rate * results.seconds
    autogroup = AUTOGROUP.read_text().strip() if AUTOGROUP.exists() else "absent"
    out = [
        BEGIN,
        "## Responsiveness under a saturated pool",
        "",
        f"Generated by `.venv/bin/python -m bench.responsiveness` on {generated_at()}; the run "
        f"took {elapsed_s:.0f} s.",
        "",
        f"- **Machine**: {len(os.sched_getaffinity(0))} CPUs, {cpu_model()}, Linux "
        f"{os.uname().release}, `kernel.sched_autogroup_enabled` = {autogroup}; client and "
        f"servers share the CPUs. Two `origin serve` (smart cut, `ORIGIN_MAX_PROCESSES="
        f"{MAX_PROCESSES}`, `ORIGIN_QUEUE_TIMEOUT_MS={round(QUEUE_TIMEOUT_S * 1000)}`), one with "
        f"`ORIGIN_FFMPEG_NICE=0`, one with `{NICE_DEFAULT}`; the source above cut every "
        f"{CLIP_EVERY_S} s (warm clip: {results.clip_bytes / 1e6:.1f} MB). Hits, 304s and 302s "
        "find their clip row in the origin's row cache; a 404 asks PostgreSQL every time.",
        f"- **Saturation**: {LOAD_CLIENTS} client threads cut {results.load_clips} clips that "
        "start 1 s into a GOP, cold (cached file deleted first), one after another, so both "
        "slots re-encode a head with x264 and a third request waits for one. The saturation "
        f"table shows the pool full and the CPUs busy. Idle: the nice={NICE_DEFAULT} server, "
        "no load.",
        f"- **Sampler**: a process of its own (like a CDN's requests, it shares no GIL with the "
        f"load threads), one keep-alive connection (httpx), the kinds in turn, each "
        f"{results.rate:g} times a second for {results.seconds:g} s a phase (~{per_kind:.0f} "
        "samples per kind); another process asks for cold clips for the 429 row. Latency "
        f"= request sent → body read. A p99 of ~{per_kind:.0f} samples rests on its "
        f"~{max(1, round(per_kind / 100))} worst: "
        "**quote ratios and medians**, the machine is small and shared.",
        "",
        *_results_rows(results),
        "",
        "The 429 row is lateness: latency - the 100 ms queue timeout. No 429 can happen with an "
        "idle pool, so its ratios are against the idle 302's p99 (the same lookup, no wait).",
        "",
        "### Saturation",
        "",
        *_saturation_rows(results),
        "",
        *_idle_warning(results.phases[IDLE]),
        "### Where the time goes",
        "",
        "*In the app*: the `duration_s` the server logs for the same request (`X-Request-ID`), "
        "from the ASGI app being called to its last body message. *Outside*: the rest: being "
        "read, parsed and handed to the app (event-loop lag), the loopback, the client.",
        "",
        *_split_rows(results),
        "",
        f"Event-loop lag: the server's `{LAG_METRIC}` over the phase (a 100 ms timer's "
        "lateness; p99 to the histogram's bucket). Threads: the server's and the sampler's "
        "`/proc/…/schedstat` (time on a CPU, time runnable but waiting for one). The polls "
        "count the ffmpeg processes that run niced in the server's scheduler autogroup: with "
        "autogroups on, the kernel shares CPU time between sessions first, and a nice value "
        "ranks a process only against the processes of its own session, so the pool keeps "
        "ffmpeg in the server's session (a process group of its own, not a session).",
        "",
        *_sched_rows(results),
        "",
        "### The sampler's own wait for a CPU",
        "",
        "Per request, the sampler reads its own thread's `schedstat` and the server's event-loop "
        "thread's just before and after it: the time each spent runnable but waiting for a CPU "
        "while the request was in flight. The sampler shares the 2 CPUs with the encoders; a "
        "CDN's request comes from another machine and would not wait for them. *Latency - "
        "sampler's wait* takes the sampler's own wait out of each latency: an **adjusted** "
        "figure, to show how much of the tail is the client's; the PASS/FAIL above stays on "
        "the plain latency.",
        "",
        *_wait_rows(results),
        "",
        END,
    ]
    return "\n".join(out)
