"""The section ``bench.warming`` writes: first play after an edit, and cuts per clip version."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bench.fleet.cuts import EDITED, EVERY_S, REPLICAS, WORKER, FleetRun
from bench.fleet.first_play import LENGTHS, PAUSE_S, WAITS, Cell, FirstPlay, Trial
from bench.fleet.layout import SHIFT_S
from bench.report.figures import ms
from bench.report.page import cpu_model, generated_at
from bench.runner.source import KEYFRAME_EVERY_S
from bench.runner.stats import median, p90

BEGIN, END = "<!-- warming -->", "<!-- /warming -->"
TARGET = 1.0  # cuts per clip version, fleet-wide, with a worker
SLOWER = 0.9  # off ÷ on below this in every no-pause row: warming made them slower


@dataclass
class Results:
    """Everything the section needs."""

    first: FirstPlay
    fleet: list[FleetRun]


def _length(length: Decimal) -> str:
    return f"{length:g} s"


def _when(wait_s: float) -> str:
    return "right after the edit" if wait_s == 0 else f"after a {wait_s:g} s pause"


def _seconds(trials: Sequence[Trial]) -> list[float]:
    return [t.seconds for t in trials]


def _mid_p90(trials: Sequence[Trial]) -> str:
    if not trials:
        return "—"
    values = _seconds(trials)
    return f"{ms(median(values))} / {ms(p90(values))}"


def _outcomes(trials: Sequence[Trial]) -> str:
    """How the server answered, e.g. ``9 hit, 1 coalesced``."""
    counts = Counter(t.cache for t in trials)
    return ", ".join(f"{n} {kind}" for kind, n in counts.most_common()) or "—"


def _cuts(trials: Sequence[Trial]) -> str:
    """Mean clips cut per trial (the edit's warm jobs included)."""
    return f"{sum(t.cuts for t in trials) / len(trials):.1f}" if trials else "—"


def _ratio(first: FirstPlay, length: Decimal, wait_s: float) -> float | None:
    on = first.trials.get(Cell(length, wait_s, True), [])
    off = first.trials.get(Cell(length, wait_s, False), [])
    return median(_seconds(off)) / median(_seconds(on)) if on and off else None


def _first_play_table(first: FirstPlay) -> list[str]:
    out = [
        "| clip | GET | warming on: median / p90 | warming off: median / p90 "
        "| off ÷ on (medians) | answered (on; off) | cuts per trial (on / off) "
        "| trials (on / off) |",
        "|---|---|--:|--:|--:|---|--:|--:|",
    ]
    short = []
    for length in LENGTHS:
        for wait_s in WAITS:
            on = first.trials.get(Cell(length, wait_s, True), [])
            off = first.trials.get(Cell(length, wait_s, False), [])
            ratio = _ratio(first, length, wait_s)
            out.append(
                f"| {_length(length)} | {_when(wait_s)} | {_mid_p90(on)} | {_mid_p90(off)} "
                f"| {'—' if ratio is None else f'{ratio:.2f}x'} "
                f"| {_outcomes(on)}; {_outcomes(off)} | {_cuts(on)} / {_cuts(off)} "
                f"| {len(on)} / {len(off)} |"
            )
            if min(len(on), len(off)) < first.wanted:
                short.append(f"{_length(length)} {_when(wait_s)}")
    out.append("")
    if short:
        out += [f"**Fewer than {first.wanted} trials** in: {', '.join(short)}.", ""]
    return out


def _first_play(first: FirstPlay) -> list[str]:
    warmed = (
        f"{first.warmed_before_s:.0f} s after the last registration"
        if first.warmed_before_s is not None
        else "not within the bound (**the trials began with warm jobs still queued**)"
    )
    out = [
        "### First play after an edit",
        "",
        "- Two `origin serve` (file mode, smart cut) on one private cluster. *Warming on*: "
        "`ORIGIN_WORKER=inline` (2 jobs at a time) and the default directory store; its sources "
        "were registered with the store on, so every clip was warmed before the trials, as in "
        f"steady state (done {warmed}). *Warming off*: `ORIGIN_WORKER=off`, "
        "`ORIGIN_CLIP_STORE=none`.",
        f"- A trial moves the cut between a clip A and its successor B from a keyframe to "
        f"{SHIFT_S} s past it (`POST /api/clips/{{A}}/move-cut`; keyframes every "
        f"{KEYFRAME_EVERY_S:g} s), so B's new version starts mid-GOP (the smart cut re-encodes "
        "the rest of that GOP) and lasts exactly 10 s or 60 s. Then it GETs B's new URL on a "
        "fresh connection and times the whole response (last byte): as soon as the edit has "
        f"answered, or {PAUSE_S:g} s later (a reviewer's reaction time).",
        "- Every trial edits a pair of its own, on hard-linked registrations of the source: "
        "no version it asks for exists in any cache or store before its edit. After each trial "
        "on the warming server the next one waits until that edit's warm jobs have run (B's and "
        "A's new versions; the neighbours', skipped as stored). Cells are interleaved and the "
        "servers take turns going first.",
        "- *Answered* is the server's `origin_ttfb_seconds{cache}`: `hit` (the warm job had "
        "finished), `coalesced` (the request joined the warm job's cut), `miss` (cut by the "
        "request). *Cuts per trial*: the server's `origin_clip_cuts_total` from the edit until "
        "its warm jobs were done (with warming, A's new version is cut too).",
        "",
        *_first_play_table(first),
    ]
    if first.late:
        out += [
            f"{first.late} trials' warm jobs were not done within the bound; the next trial "
            "started anyway.",
            "",
        ]
    return out


def _per_version(run: FleetRun, counts: dict[str, float]) -> str:
    return f"{sum(counts.values()) / run.versions:.2f}" if run.versions else "—"


def _by_process(counts: dict[str, float]) -> str:
    return " / ".join(f"{counts[p]:g}" if p in counts else "—" for p in (*REPLICAS, WORKER))


def _fleet_table(fleet: Sequence[FleetRun]) -> list[str]:
    out = [
        "| setup | clip versions served | cuts: A / B / worker | **cuts per version** "
        "| ffmpeg runs per version | store copies: A / B | GET median: replica asked first "
        "/ second |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for run in fleet:
        cuts = _per_version(run, run.cuts)
        hits = " / ".join(f"{run.store_hits.get(r, 0):g}" for r in REPLICAS)
        out.append(
            f"| {run.setup.label} | {run.versions} | {_by_process(run.cuts)} | **{cuts}** "
            f"| {_per_version(run, run.runs)} | {hits} "
            f"| {ms(median(run.first_s))} / {ms(median(run.second_s))} |"
        )
    return [*out, ""]


def _fleet(fleet: Sequence[FleetRun]) -> list[str]:
    waits = [w for run in fleet for w in run.warm_waits]
    waited = ", ".join("timed out" if w is None else f"{w:.1f} s" for w in waits)
    return [
        "### ffmpeg runs (cuts) per clip version, fleet-wide (2 replicas)",
        "",
        "- Per setup, fresh processes on the same cluster (`DATABASE_URL`): replicas A and B "
        "(`origin serve`, `ORIGIN_WORKER=off`, a home and cache each) on one "
        "`ORIGIN_CLIP_STORE` directory, and for warming one `origin worker --metrics-port P` "
        f"(home of its own). A fresh registration of the source, cut every {EVERY_S} s; with "
        'the worker, wait until it has run every warm job (its `origin_jobs_total{queue="warm"}`'
        f"; it took {waited or '—'}: registration, then edits). Then every clip is fetched from "
        "both replicas, one right after the other (they take turns going first); then "
        f"{len(EDITED)} cuts move {SHIFT_S} s through A (two new versions each), the worker is "
        "waited for again, and every new version is fetched from both.",
        "- *Cuts* is `origin_clip_cuts_total` (clips a process cut rather than copied), summed "
        "over A, B and the worker, over the distinct versions served; *ffmpeg runs* is "
        '`origin_ffmpeg_runs_total{outcome="ok"}` (a smart cut takes 0 to 2), *store copies* '
        "`origin_store_hits_total`.",
        "",
        *_fleet_table(fleet),
    ]


def _shows_first(first: FirstPlay) -> list[str]:
    parts = []
    for length in LENGTHS:
        later = Cell(length, PAUSE_S, True)
        ratios = [_ratio(first, length, w) for w in WAITS]
        on_later = first.trials.get(later, [])
        hits = sum(t.cache == "hit" for t in on_later)
        now, paused = ratios
        parts.append(
            f"{_length(length)} clips: after the {PAUSE_S:g} s pause {hits} of {len(on_later)} "
            "first plays were cache hits with warming, and the median first play was "
            f"{'—' if paused is None else f'{paused:.0f}x'} faster than without; right after "
            f"the edit, off ÷ on was {'—' if now is None else f'{now:.2f}x'}"
        )
    return parts


def _now(first: FirstPlay) -> str:
    """What the rows without a pause say, in words that depend on their ratios."""
    ratios = [r for r in (_ratio(first, length, 0.0) for length in LENGTHS) if r is not None]
    now_on = [t for length in LENGTHS for t in first.trials.get(Cell(length, 0.0, True), [])]
    now_off = [t for length in LENGTHS for t in first.trials.get(Cell(length, 0.0, False), [])]
    if not ratios:
        return ""
    if max(ratios) < SLOWER:
        return (
            "Right after the edit warming makes the first play slower, not faster: the edit "
            "starts the warm jobs of both clips it changed, so the request joins B's cut "
            "(`coalesced`) or cuts B itself while A's new version is cut beside it "
            f"({_cuts(now_on)} cuts per trial against {_cuts(now_off)}). A's ffmpeg is paused "
            "while B's runs (pool/cuts.py), but the rest of A's cut (reading the source, "
            "writing the MP4) runs on in the server's threads."
        )
    return (
        "Right after the edit warming neither wins much nor costs much: the request joins B's "
        "warm cut or cuts B itself, and A's warm ffmpeg is paused while B's runs "
        f"({_cuts(now_on)} cuts per trial against {_cuts(now_off)}): a cut against a cut."
    )


def _shows(results: Results) -> list[str]:
    first = results.first
    fleet = {run.setup.name: run for run in results.fleet}
    noise = (
        f"This machine is shared and noisy: p90s of {first.wanted} trials move by tens of "
        "percent between runs, so quote the medians and their ratios; the pause rows' gap (a "
        "cached file against a cut) is far larger than that noise."
    )
    lines = [
        "### What this shows",
        "",
        f"First play after an edit: {'; '.join(_shows_first(first))}. {_now(first)} {noise}",
        "",
    ]
    warm, store, none = (fleet.get(n) for n in ("fleet-warm", "fleet-store", "fleet-none"))
    if warm and store and none:
        lines += [_shows_fleet(warm, store, none), ""]
    return lines


def _shows_fleet(warm: FleetRun, store: FleetRun, none: FleetRun) -> str:
    def per(run: FleetRun) -> float:
        return sum(run.cuts.values()) / run.versions

    second_cuts = sum(store.cuts.values()) - store.versions
    return (
        f"Fleet-wide cuts per clip version (target {TARGET:.1f}): with a worker "
        f"{per(warm):.2f} — the worker cut {warm.cuts.get(WORKER, 0):g} of {warm.versions} "
        f"versions and the replicas {warm.cuts['A'] + warm.cuts['B']:g}, copying from the store "
        f"{warm.store_hits['A'] + warm.store_hits['B']:g} times. Without a worker but with the "
        f"store, {per(store):.2f}: whichever replica is asked first cuts the clip and writes it "
        "through to the store, and the second copies it "
        f"({store.store_hits['A'] + store.store_hits['B']:g} copies"
        + (
            f"; it cut {second_cuts:g} itself, asked before the first one's write-through landed)"
            if second_cuts > 0
            else ", even asked milliseconds later: the directory store's write is a hard link)"
        )
        + f", but that first play waits for a cut (median {ms(median(store.first_s))} against "
        f"{ms(median(warm.first_s))} with the worker). Without a store each replica cuts every "
        f"version itself: {per(none):.2f}."
    )


def render(results: Results, elapsed_s: float) -> str:
    """The section, between its markers."""
    return "\n".join(
        [
            BEGIN,
            "## Background warming",
            "",
            f"Generated by `make bench` (`.venv/bin/python -m bench.warming --trials "
            f"{results.first.wanted}`) on {generated_at()}; the run took {elapsed_s:.0f} s on "
            f"{len(os.sched_getaffinity(0))} CPUs ({cpu_model()}). Rerun it rather than editing "
            "this section.",
            "",
            *_first_play(results.first),
            *_fleet(results.fleet),
            *_shows(results),
            END,
        ]
    )
