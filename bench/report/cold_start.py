"""The section ``bench.cold_start`` writes: process start to first answers, fresh servers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.report.figures import ms
from bench.report.page import cpu_model, generated_at
from bench.runner.stats import median, p90
from bench.runner.timing import Sample

BEGIN, END = "<!-- cold-start -->", "<!-- /cold-start -->"
TARGET_S = 0.25  # process start → /healthz 200, median
#: Packages that start-up should not load; the imports row says which of them it did.
HEAVY = ("boto3", "botocore", "procrastinate", "psycopg", "httpx", "imageio_ffmpeg", "tqdm")


@dataclass(frozen=True)
class ClipRun:
    """One fresh server asked for two cold clips: seconds from process start, and samples."""

    healthz_s: float
    asked_s: float  # when the first clip was asked for
    first: Sample
    second: Sample  # asked right after the first, in the then warm process

    @property
    def first_byte_s(self) -> float:
        """Process start → the first clip's first body byte."""
        return self.asked_s + (self.first.ttfb_s or 0.0)

    @property
    def last_byte_s(self) -> float:
        """Process start → the first clip's last byte."""
        return self.asked_s + self.first.total_s


@dataclass(frozen=True)
class Imports:
    """One timed import in a fresh interpreter."""

    seconds: float
    modules: int  # in sys.modules afterwards, the interpreter's own included
    heavy: list[str]  # the HEAVY packages it loaded


@dataclass
class Results:
    """Everything the section needs."""

    runs: int
    healthz_s: list[float] = field(default_factory=list)
    readyz_s: list[float] = field(default_factory=list)
    inline_healthz_s: list[float] = field(default_factory=list)  # ORIGIN_WORKER=inline
    inline_readyz_s: list[float] = field(default_factory=list)
    clips: list[ClipRun] = field(default_factory=list)
    private_healthz_s: list[float] = field(default_factory=list)
    imports: dict[str, list[Imports]] = field(default_factory=dict)  # "app", "serve"
    busiest: float = 0.0  # CPU busy share before the busiest run


def _row(label: str, values: Sequence[float]) -> str:
    if not values:
        return f"| {label} | — | — | — | — |"
    return (
        f"| {label} | **{ms(median(values))}** | {ms(p90(values))} | {ms(min(values))} "
        f"| {ms(max(values))} |"
    )


def _imports_row(label: str, imports: Sequence[Imports]) -> str:
    return _row(label, [i.seconds for i in imports])


def _table(results: Results) -> list[str]:
    clips = results.clips
    return [
        f"| from process start (unless said), {results.runs} fresh servers each "
        "| median | p90 | min | max |",
        "|---|--:|--:|--:|--:|",
        _row("`/healthz` 200 (liveness)", results.healthz_s),
        _row("`/readyz` 200 (database, ffmpeg, cache)", results.readyz_s),
        _row("`ORIGIN_WORKER=inline`: `/healthz` 200", results.inline_healthz_s),
        _row("`ORIGIN_WORKER=inline`: `/readyz` 200", results.inline_readyz_s),
        _row("first clip (cold): first byte", [c.first_byte_s for c in clips]),
        _row("first clip (cold): last byte", [c.last_byte_s for c in clips]),
        _row("first clip: request → last byte", [c.first.total_s for c in clips]),
        _row(
            "second clip (cold, warm process): request → first byte",
            [c.second.ttfb_s or 0.0 for c in clips],
        ),
        _row(
            "second clip (cold, warm process): request → last byte",
            [c.second.total_s for c in clips],
        ),
        _row("`/healthz` 200 without `DATABASE_URL` (private cluster)", results.private_healthz_s),
        _imports_row("`import origin.app` (fresh interpreter)", results.imports.get("app", [])),
        _imports_row(
            "`import origin.cli, origin.server` (what `origin serve` imports)",
            results.imports.get("serve", []),
        ),
        _imports_row(
            "boto3 and an S3 client (an S3 clip store's first call)", results.imports.get("s3", [])
        ),
    ]


def _loaded(results: Results) -> str:
    serve = results.imports.get("serve", [])
    if not serve:
        return ""
    last = serve[-1]
    names = ", ".join(f"`{p}`" for p in HEAVY)
    loaded = ", ".join(f"`{p}`" for p in last.heavy)
    return (
        f"`import origin.cli, origin.server` leaves {last.modules} modules in `sys.modules`, "
        + (f"{loaded} among them." if loaded else f"none of {names} among them.")
    )


def _verdict(results: Results) -> str:
    if not results.healthz_s:
        return ""
    got = median(results.healthz_s)
    met = "met" if got < TARGET_S else "**not met**"
    return f"Target: `/healthz` 200 within {ms(TARGET_S)} of process start (median): {met}."


def render(results: Results, elapsed_s: float) -> str:
    """The section, between its markers."""
    noisy = (
        [
            f"**The CPUs were {results.busiest:.0%} busy before one of the runs**: something "
            "else ran on the machine; rerun on a quiet one.",
            "",
        ]
        if results.busiest >= 0.2
        else []
    )
    return "\n".join(
        [
            BEGIN,
            "## Cold start",
            "",
            f"Generated by `make bench` (`.venv/bin/python -m bench.cold_start --runs "
            f"{results.runs}`) on {generated_at()}; the run took {elapsed_s:.0f} s on "
            f"{len(os.sched_getaffinity(0))} CPUs ({cpu_model()}). Rerun it rather than editing "
            "this section.",
            "",
            "On Fly the origin scales to zero: a request to a stopped machine waits for the "
            "process to start and answer. Every sample here is a fresh `origin serve` "
            "(file mode, smart cut, `ORIGIN_WORKER=off` unless said, `ORIGIN_CLIP_STORE=none`, "
            "a new cache directory) on the private cluster of a throwaway home, reached "
            "through `DATABASE_URL` like a deployment's PostgreSQL; times run from just before "
            "the process is spawned, the project byte-compiled first (as the image is). A "
            "probe polls on fresh connections every 2 ms. The clips are 10 s of the 1080p "
            "source above, each starting 1.4 s into a GOP, so the smart cut runs ffmpeg on "
            "the rest of that GOP; the first is asked for as soon as `/healthz` answers, the "
            "second right after the first, in the then warm process. The imports run in "
            "fresh interpreters. The machine is small and shared: quote the medians.",
            "",
            *_table(results),
            "",
            _verdict(results) + " " + _loaded(results),
            "",
            *noisy,
            *_later(results),
            END,
        ]
    )


#: This benchmark at commit 2610194, before issue 15 (7 runs, 2026-11-30 04:10 UTC).
BEFORE = (
    "at commit 2610194 (medians of 7): `/healthz` 420 ms, `/readyz` 445 ms (with "
    "`ORIGIN_WORKER=inline` 421 ms and 451 ms), the first clip's first byte 834 ms and last "
    "byte 841 ms (request → last byte 441 ms; the second clip 450 ms), `/healthz` without "
    "`DATABASE_URL` 450 ms, `import origin.app` 324 ms, `import origin.cli, origin.server` "
    "309 ms (764 modules; procrastinate, psycopg, httpx and tqdm among them)"
)


def _gap(results: Results) -> str:
    if not results.healthz_s or not results.readyz_s:
        return ""
    gap = median(results.readyz_s) - median(results.healthz_s)
    return f" (here `/readyz` came {ms(gap)} after `/healthz`)"


def _rich(results: Results) -> str:
    """What rich costs structlog's import here: with it, minus with it hidden."""
    with_rich = [i.seconds for i in results.imports.get("structlog", [])]
    without = [i.seconds for i in results.imports.get("structlog-no-rich", [])]
    if not with_rich or not without:
        return ""
    return f" (`import structlog` takes {ms(median(with_rich) - median(without))} more with it)"


def _later(results: Results) -> list[str]:
    """Before and after: what start-up no longer does before it listens."""
    return [
        "### What start-up leaves for later",
        "",
        f"Before issue 15 this benchmark measured {BEFORE}. The issue itself had measured "
        "0.46-0.61 s to `/healthz`, ~0.85 s to finish a first cold 1080p clip and ~260 ms to "
        "import `origin.app`. Since then:",
        "",
        "- `origin serve` imports what serving needs and little else: each `origin` command "
        "imports its own modules when it runs, and these load when first used: procrastinate "
        "and psycopg (the job queue), tqdm (the CLI's export progress), httpx (remote source "
        "reads), imageio-ffmpeg (finding ffmpeg), sse-starlette (event streams), uvicorn's "
        "WebSocket implementation (there are no WebSocket routes), the smart cut and edit "
        "list code (the first cut), the registration's probing, the review page's assets and "
        "templates (the first page), procrastinate's schema (only to create it). boto3 "
        "already loaded on first use, except for an S3 clip store, whose client is now made "
        "by its first call. The cyclic garbage collector is paused while the server loads "
        "(~40k objects that live on; ~13 ms of CPU).",
        "- The lifespan opens only the database pool (it connects on demand), the clip pool "
        "and its cache, and uvicorn listens. Then `origin/startup.py` does the rest, each part "
        "awaited by the first request that needs it (which starts it, if it has not "
        "started): 50 ms after listening, so that the requests already queued are read "
        "first, finding ffmpeg and running `ffmpeg -version` once (it ran twice), which clip "
        "and thumbnail answers (their ETag names the build), cuts and `/readyz` wait for, "
        "and an S3 clip store's client; then, once no clip is being cut, the job queue "
        "(procrastinate loaded in a thread), which edits and exports wait for, and after it "
        "the queue-depth gauge and an inline worker. A thread loading modules competes with "
        "the event loop for the GIL, hence the order. No runnable ffmpeg still stops the "
        "server: `origin serve` exits 1 with `origin: error: …`.",
        "- What a request may now wait for: `/readyz` for the ffmpeg check"
        f"{_gap(results)}; an edit or export right after start for the job queue; the first "
        "cut loads the cutting code (a few ms); with S3, the first clip of an S3 source or "
        "store for boto3 and the client (the S3 row), made in a thread, never on the event "
        "loop. Without `DATABASE_URL` the server still checks the private cluster "
        "(`pg_ctl status`) and its migrations before it listens.",
        "- Still before the first answer: the interpreter, asyncio, Starlette and uvicorn, "
        "asyncpg, prometheus-client, structlog and the pool's own modules. Here structlog also "
        "loads rich (with pygments and attrs), which the dev tools bring (import-linter); the "
        f"production image has none of them{_rich(results)}.",
        "",
        "`tests/cli/test_cold_start.py` checks that start-up (imports, uvicorn's set-up, the "
        "lifespan) loads none of the deferred packages, whatever the store and worker "
        "settings, and that a missing ffmpeg still stops the server with one clear line.",
        "",
    ]
