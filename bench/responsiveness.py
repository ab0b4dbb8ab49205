"""Responsiveness: the origin's cheap answers while its ffmpeg pool is saturated.

``.venv/bin/python -m bench.responsiveness [--seconds S] [--rate R]`` (``make bench``,
after ``bench.clip_latency``, which rewrites docs/benchmarks.md) times warm hits,
304s, 302s, 404s and 429s, answers that need a database lookup at most and no
ffmpeg, in three phases: an idle pool, then a pool whose two slots are kept
busy with cold smart cuts of the benchmark's 1080p source, once with
``ORIGIN_FFMPEG_NICE=0`` (ffmpeg at the server's priority, the old behaviour)
and once with ``10`` (the default). It replaces its own section of
docs/benchmarks.md, between ``<!-- responsiveness -->`` and
``<!-- /responsiveness -->``. Two origin servers and the private PostgreSQL
cluster of a throwaway ORIGIN_HOME, all stopped in ``finally``; about 90 s.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.clip_latency import (
    DOC,
    KEYFRAME_EVERY_S,
    _cache_cleaner,
    _cpu_model,
    _exit_on_sigterm,
    _origin_env,
    background,
    ensure_source,
    fetch_cold,
    free_port,
    median,
)
from pool.ffmpeg_binary import find_ffmpeg

BEGIN, END = "<!-- responsiveness -->", "<!-- /responsiveness -->"

MAX_PROCESSES = 2  # one slot per CPU of the benchmark machine
QUEUE_TIMEOUT_S = 0.1
TARGET = 3.0  # saturated p99 ÷ idle p99, with ffmpeg niced (the default)
NICE_DEFAULT = 10
# Every clip of the source is this long; those that start half-way through a
# 2 s GOP (5, 15, 25, … s) re-encode its second half with x264 when cut.
CLIP_EVERY_S = Decimal(5)
# Three clients for two slots: while two cuts run, the third client waits in
# the slot queue (and gets a 429 after QUEUE_TIMEOUT_S, and asks again), so a
# slot is taken again as soon as it frees, and the sampler's own cold request
# usually queues behind it and gets its 429.
LOAD_CLIENTS = 3
PROBES_429 = 4  # cold clips kept for the sampler's 429 requests, apart from the load's
SATURATION_WAIT_S = 15.0
POLL_S = 0.25
QUIET_BUSY = 0.2  # a phase starts once the CPUs are less busy than this for a second …
QUIET_WAIT_S = 60.0  # … or after this long, with a warning
IDLE_BUSY_WARNING = 0.3
LAG_METRIC = "origin_event_loop_lag_seconds"
AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")

IDLE, NICE_0, NICE_10 = "idle", "saturated, nice=0", f"saturated, nice={NICE_DEFAULT}"
PHASES = (IDLE, NICE_0, NICE_10)
RANGE = "warm hit, `Range: bytes=0-65535`"
FULL = "warm hit, full GET"
NOT_MODIFIED = "304 (`If-None-Match`)"
REDIRECT = "302 (old version)"
NOT_FOUND = "404 (unknown clip)"
HEALTH = "`/healthz` (no I/O: event loop + HTTP only)"
REJECTED = "429, lateness (latency - queue timeout)"

Cold = tuple[str, Callable[[], None]]  # a clip's URL path, and what deletes its cached file


@dataclass(frozen=True)
class Probe:
    """One kind of cheap request: what to GET and the status it must answer."""

    kind: str
    path: str
    status: int
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """One timed request: its ``X-Request-ID`` (to find it in the server's log) and seconds."""

    request_id: str
    seconds: float


@dataclass(frozen=True)
class Sched:
    """Threads' time on a CPU and waiting in a run queue for one (ns), and their wake-ups."""

    run_ns: int = 0
    wait_ns: int = 0
    slices: int = 0

    def __add__(self, other: Sched) -> Sched:
        return Sched(
            self.run_ns + other.run_ns, self.wait_ns + other.wait_ns, self.slices + other.slices
        )

    def __sub__(self, other: Sched) -> Sched:
        return Sched(
            self.run_ns - other.run_ns, self.wait_ns - other.wait_ns, self.slices - other.slices
        )


@dataclass(frozen=True)
class Lag:
    """The server's ``origin_event_loop_lag_seconds`` (a 100 ms timer's lateness) histogram."""

    buckets: tuple[tuple[float, float], ...]  # (upper bound, cumulative count), +Inf last
    sum_s: float

    def __sub__(self, other: Lag) -> Lag:
        return Lag(
            tuple((le, n - m) for (le, n), (_, m) in zip(self.buckets, other.buckets, strict=True)),
            self.sum_s - other.sum_s,
        )

    @property
    def count(self) -> float:
        """How many times the timer was observed."""
        return self.buckets[-1][1]

    def bound(self, q: float) -> float:
        """The upper bound of the bucket that holds the ``q`` quantile."""
        return next(le for le, n in self.buckets if n >= q * self.count)


@dataclass(frozen=True)
class Poll:
    """One look at the saturated server: ``/status/pool`` and its ffmpeg processes."""

    active: int
    waiting: int
    ffmpeg: int  # ffmpeg children of the server
    ffmpeg_niced: int  # … of them whose autogroup is niced (ORIGIN_FFMPEG_NICE reached it)


@dataclass(frozen=True)
class Server:
    """One running origin and what the sampler asks it."""

    nice: int
    port: int
    pid: int
    log: Path
    cache_dir: Path
    probes: tuple[Probe, ...]


@dataclass(frozen=True)
class Workload:
    """The cold clips of one server: the load clients' (one tuple each) and the 429 probes'."""

    load: tuple[tuple[Cold, ...], ...]
    cold: tuple[Cold, ...]


@dataclass
class Phase:
    """What one phase measured."""

    answers: dict[str, list[Answer]]  # kind → timed answers, client side
    seconds: float
    cpu_busy: float  # fraction of all CPUs' time not idle
    cpu_nice: float  # fraction spent in niced processes (ffmpeg, when niced)
    polls: list[Poll]
    loop: Sched  # the server's main thread, which runs its event loop
    workers: Sched  # the server's other threads (smart-cut steps, file I/O): the GIL's rivals
    sampler: Sched  # the client thread that takes the samples
    lag: Lag
    app_s: dict[str, float] = dataclasses.field(default_factory=dict)  # request id → duration_s
    cuts: int = 0  # cold smart cuts the load clients got
    load_429: int = 0  # load-client requests refused by the pool
    probes_slotted: int = 0  # the sampler's 429 requests that got a slot instead


@dataclass
class Results:
    """Everything the report needs."""

    phases: dict[str, Phase]
    clip_bytes: int  # size of the warm clip
    load_clips: int
    seconds: float
    rate: float


# -- /proc -------------------------------------------------------------------------


def percentile(values: Sequence[float], q: int) -> float:
    """The ``q``-th percentile (inclusive interpolation)."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def cpu_times() -> list[int]:
    """The aggregate line of /proc/stat: user nice system idle iowait irq softirq steal."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def cpu_busy(before: Sequence[int], after: Sequence[int]) -> tuple[float, float]:
    """Between two :func:`cpu_times`: the fraction of CPU time not idle, and the niced one."""
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = max(sum(delta), 1)
    return 1 - (delta[3] + delta[4]) / total, delta[1] / total  # idle + iowait; nice


def wait_quiet() -> float:
    """Wait, up to QUIET_WAIT_S, for a second in which the CPUs are mostly idle; its busy share.

    Other work on the machine (a test run, the previous phase's last cuts)
    would otherwise land in the next phase, the idle one above all.
    """
    deadline = time.monotonic() + QUIET_WAIT_S
    while True:
        before = cpu_times()
        time.sleep(1)
        busy = cpu_busy(before, cpu_times())[0]
        if busy < QUIET_BUSY or time.monotonic() > deadline:
            return busy


def read_sched(task: Path) -> Sched:
    """A thread's ``schedstat`` (``/proc/<pid>/task/<tid>`` or ``/proc/thread-self``)."""
    run, waited, slices = (int(v) for v in (task / "schedstat").read_text().split())
    return Sched(run, waited, slices)


def thread_scheds(pid: int) -> dict[int, Sched]:
    """tid → :class:`Sched` of every thread of ``pid``."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that has just ended
            out[int(task.name)] = read_sched(task)
    return out


def server_pid(port: int) -> int:
    """The pid of the ``origin serve --port <port>`` that :func:`background` started."""
    tail = [b"serve", b"--port", str(port).encode()]
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):  # not a process, or gone
            if (
                entry.name.isdigit()
                and (entry / "cmdline").read_bytes().split(b"\0")[-4:-1] == tail
            ):
                return int(entry.name)
    raise RuntimeError(f"no `origin serve` process on port {port}")


def _autogroup_niceness(pid: int) -> int:
    # "/autogroup-123 nice 10": the scheduler's group for the process's session.
    return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])


def ffmpeg_children(pid: int) -> tuple[int, int]:
    """How many ffmpeg children ``pid`` has, and how many of them have a niced autogroup.

    With ``kernel.sched_autogroup_enabled``, CPU time is shared between
    sessions first and a process's nice value only ranks it within its own
    session's group: each ffmpeg has a session of its own, so the pool nices
    that session's autogroup too (pool/process.py).
    """
    if not AUTOGROUP.exists():  # a kernel without autogroups: nothing to tell
        return 0, 0
    total = niced = 0
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):  # not a process, or gone
            comm, _, fields = (entry / "stat").read_text().partition(" (")[2].rpartition(") ")
            # The wheel's binary is ffmpeg-linux-x86_64-v…; comm keeps 15 characters.
            if comm.startswith("ffmpeg") and int(fields.split()[1]) == pid:
                total += 1
                niced += _autogroup_niceness(int(entry.name)) > 0
    return total, niced


# -- clients -----------------------------------------------------------------------


def _client(port: int) -> httpx.Client:
    # One keep-alive connection, as a CDN keeps to its origin.
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0)


def _timed(client: httpx.Client, probe: Probe, request_id: str) -> tuple[int, float]:
    """GET ``probe``'s path (body read to the end); its status and the seconds it took."""
    headers = {**probe.headers, "X-Request-ID": request_id}
    start = time.perf_counter()
    response = client.get(probe.path, headers=headers)
    return response.status_code, time.perf_counter() - start


def sample(
    server: Server, rate: float, name: str, stop: threading.Event
) -> tuple[dict[str, list[Answer]], Sched]:
    """Ask for each cheap kind ``rate`` times a second, in turn, one request at a time.

    Also returns this thread's own scheduling over the phase: a client that
    waits for a CPU adds that wait to every latency it measures.
    """
    answers: dict[str, list[Answer]] = {p.kind: [] for p in server.probes}
    period = 1 / (rate * len(server.probes))
    me = Path("/proc/thread-self")
    started = read_sched(me)
    with _client(server.port) as client:
        due = time.monotonic()
        for n in itertools.count():
            if stop.is_set():
                break
            probe = server.probes[n % len(server.probes)]
            request_id = f"{name}-{n}"
            status, seconds = _timed(client, probe, request_id)
            if status != probe.status:
                raise RuntimeError(f"{probe.kind}: {probe.path} answered {status}")
            answers[probe.kind].append(Answer(request_id, seconds))
            # A fixed schedule, but no burst to catch up after a slow answer:
            # the sampler must not add load of its own when the server lags.
            due = max(due + period, time.monotonic())
            time.sleep(max(0.0, due - time.monotonic()))
    return answers, read_sched(me) - started


def sample_429(
    server: Server, cold: Sequence[Cold], name: str, stop: threading.Event
) -> tuple[list[Answer], int]:
    """Ask for cold clips in turn until ``stop``; the 429s, and how many got a slot instead.

    A request that gets a slot within the queue timeout (a cut ended just then)
    is a smart cut, not a 429: it is counted apart, and deleted before its
    clip is asked for again.
    """
    answers: list[Answer] = []
    slotted = 0
    with _client(server.port) as client:
        for n, (path, clean) in enumerate(itertools.cycle(cold)):
            if stop.is_set():
                break
            clean()
            request_id = f"{name}-429-{n}"
            status, seconds = _timed(client, Probe(REJECTED, path, 429), request_id)
            if status == 429:
                answers.append(Answer(request_id, seconds))
            elif status == 200:
                slotted += 1
            else:
                raise RuntimeError(f"cold {path} answered {status}, not 429 or 200")
    return answers, slotted


def load(port: int, clips: Sequence[Cold], stop: threading.Event) -> tuple[int, int]:
    """Cut ``clips`` cold, one after another, until ``stop``; (cuts, 429s) it got."""
    cuts = refused = 0
    for path, clean in itertools.cycle(clips):
        if stop.is_set():
            break
        try:
            fetch_cold(port, path, clean)
            cuts += 1
        except RuntimeError as exc:  # fetch raises on any status but 200
            if " answered 429:" not in str(exc):
                raise
            refused += 1
    return cuts, refused


def poll(server: Server, stop: threading.Event) -> list[Poll]:
    """Every POLL_S until ``stop``: ``/status/pool`` and the server's ffmpeg processes."""
    polls = []
    with _client(server.port) as client:
        while not stop.wait(POLL_S):
            status = client.get("/status/pool").json()
            polls.append(
                Poll(status["active_processes"], status["waiting"], *ffmpeg_children(server.pid))
            )
    return polls


def _wait_saturated(port: int) -> None:
    deadline = time.monotonic() + SATURATION_WAIT_S
    with _client(port) as client:
        while client.get("/status/pool").json()["active_processes"] < MAX_PROCESSES:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the pool did not fill within {SATURATION_WAIT_S} s")
            time.sleep(0.05)


def app_durations(log: Path) -> dict[str, float]:
    """request id → ``duration_s`` of every ``request`` line in a server's JSON log."""
    out: dict[str, float] = {}
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == "request":
                out[str(record.get("request_id"))] = float(record["duration_s"])
    return out


def loop_lag(port: int) -> Lag:
    """The server's event-loop lag histogram, from ``/metrics``."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == LAG_METRIC:
            return Lag(
                tuple(
                    (float(s.labels["le"]), s.value)
                    for s in family.samples
                    if s.name.endswith("_bucket")
                ),
                next(s.value for s in family.samples if s.name.endswith("_sum")),
            )
    raise RuntimeError(f"no {LAG_METRIC} in the server's /metrics")


# -- phases ------------------------------------------------------------------------


def run_phase(
    name: str, server: Server, workload: Workload | None, seconds: float, rate: float
) -> Phase:
    """Sample ``server`` for ``seconds``; with a ``workload``, while its pool is saturated."""
    stop_load, stop = threading.Event(), threading.Event()
    with ThreadPoolExecutor(max_workers=LOAD_CLIENTS + 3) as pool:
        try:
            loads = [
                pool.submit(load, server.port, clips, stop_load)
                for clips in (workload.load if workload else ())
            ]
            if workload is not None:
                _wait_saturated(server.port)
            cpu, threads, lag = cpu_times(), thread_scheds(server.pid), loop_lag(server.port)
            started = time.monotonic()
            sampler = pool.submit(sample, server, rate, name, stop)
            rejections = (
                pool.submit(sample_429, server, workload.cold, name, stop) if workload else None
            )
            poller = pool.submit(poll, server, stop)
            watched: list[Future[Any]] = [sampler, poller, *loads]
            if rejections is not None:
                watched.append(rejections)
            # Early if a thread fails: .result() raises its exception.
            wait(watched, timeout=seconds, return_when=FIRST_COMPLETED)
            stop.set()
            (answers, own), polls = sampler.result(), poller.result()
            elapsed = time.monotonic() - started
            busy, niced = cpu_busy(cpu, cpu_times())
            lag = loop_lag(server.port) - lag
            threads = {
                tid: now - threads.get(tid, Sched())
                for tid, now in thread_scheds(server.pid).items()
            }
        finally:
            stop.set()
            stop_load.set()
        phase = Phase(
            answers,
            seconds=elapsed,
            cpu_busy=busy,
            cpu_nice=niced,
            polls=polls,
            loop=threads[server.pid],
            workers=sum((s for t, s in threads.items() if t != server.pid), Sched()),
            sampler=own,
            lag=lag,
        )
        if rejections is not None:
            phase.answers[REJECTED], phase.probes_slotted = rejections.result()
        for future in loads:
            cuts, refused = future.result()
            phase.cuts += cuts
            phase.load_429 += refused
    phase.app_s = app_durations(server.log)
    return phase


# -- set-up --------------------------------------------------------------------------


def register_every(env: Mapping[str, str], source: Path, every: Decimal) -> list[dict[str, Any]]:
    """Register ``source`` cut every ``every`` seconds; its clips (``clips list --json`` shape)."""
    out = subprocess.run(
        [sys.executable, "-m", "origin", "sources", "add", str(source), "--json",
         "--every", str(every)],
        env=dict(env), check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    clips: list[dict[str, Any]] = json.loads(out)["clips"]
    return clips


def _mid_gop(clip: Mapping[str, Any]) -> bool:
    return Decimal(str(clip["start"])) % Decimal(str(KEYFRAME_EVERY_S)) != 0


@dataclass(frozen=True)
class Clips:
    """Which clip plays which part: warm, moved to version 2, cut cold."""

    warm: str  # URL path of the clip served from the cache
    moved: int  # id of the clip that gets a version 2 (its version 1 URL answers 302)
    moved_at: float  # where its end is moved to
    cold: tuple[tuple[int, str], ...]  # (id, URL path) of mid-GOP clips, for the 429 probes
    load: tuple[tuple[int, str], ...]  # (id, URL path) of mid-GOP clips, for the load


def pick_clips(clips: Sequence[Mapping[str, Any]]) -> Clips:
    """Split the source's clips between the roles; every cold one starts mid-GOP."""
    aligned = [c for c in clips if not _mid_gop(c)]
    # Keyframe-aligned clips are the warm and the moved one: neither is cut
    # while sampling. The move also bumps the version of the clip that
    # follows, which is left out.
    warm, moved = aligned[1], aligned[2]
    mid = [(c["id"], c["url"]) for c in clips if _mid_gop(c) and c["start"] != moved["end"]]
    return Clips(
        warm=warm["url"],
        moved=moved["id"],
        moved_at=moved["end"] + 0.5,
        cold=tuple(mid[:PROBES_429]),
        load=tuple(mid[PROBES_429:]),
    )


def workload(cache_dir: Path, clips: Clips) -> Workload:
    """The cold clips of the server whose cache is ``cache_dir``, split between the clients."""

    def cold(pairs: Sequence[tuple[int, str]]) -> tuple[Cold, ...]:
        return tuple((url, _cache_cleaner(cache_dir, i, "smart")) for i, url in pairs)

    return Workload(
        load=tuple(cold(clips.load[k::LOAD_CLIENTS]) for k in range(LOAD_CLIENTS)),
        cold=cold(clips.cold),
    )


def probes(port: int, clips: Clips, redirect_from: str, missing_id: int) -> tuple[Probe, ...]:
    """The cheap requests for one server; puts the warm clip in its cache first."""
    with _client(port) as client:
        warm = client.get(clips.warm)
        warm.raise_for_status()
    return (
        Probe(RANGE, clips.warm, 206, {"Range": "bytes=0-65535"}),
        Probe(FULL, clips.warm, 200),
        Probe(NOT_MODIFIED, clips.warm, 304, {"If-None-Match": warm.headers["etag"]}),
        Probe(REDIRECT, redirect_from, 302),
        Probe(NOT_FOUND, f"/videos/clips/{missing_id}/stream/v1", 404),
        Probe(HEALTH, "/healthz", 200),
    )


def move_cut(port: int, clips: Clips) -> str:
    """Give the moved clip a version 2 through the JSON API; its version 1 URL."""
    response = httpx.post(
        f"http://127.0.0.1:{port}/api/clips/{clips.moved}/move-cut", json={"at": clips.moved_at}
    )
    response.raise_for_status()
    changed = {c["id"]: c for c in response.json()["changed"]}[clips.moved]
    if changed["version"] != 2:
        raise RuntimeError(f"move-cut left clip {clips.moved} at {changed}")
    return str(changed["url"]).replace("/v2", "/v1")


def measure(seconds: float, rate: float) -> Results:
    """Start the cluster and two servers (nice 0 and 10), run the three phases, stop all."""
    source = ensure_source(find_ffmpeg(None))
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="origin-bench-responsiveness-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        work.chmod(0o755)  # the postgres user (the cluster, when we are root) reads inside
        home = work / "home"
        env = _origin_env(home)
        stack.callback(
            subprocess.run,
            [sys.executable, "-m", "origin", "db", "stop"],
            env=env, check=False, capture_output=True, timeout=120,
        )  # fmt: skip
        registered = register_every(env, source, CLIP_EVERY_S)
        clips = pick_clips(registered)
        missing_id = max(c["id"] for c in registered) + 1_000_000
        servers: dict[int, Server] = {}
        redirect_from = ""
        for nice in (0, NICE_DEFAULT):
            port, cache_dir, log = free_port(), work / f"cache-{nice}", work / f"origin-{nice}.log"
            server_env = _origin_env(
                home, ORIGIN_CACHE_DIR=str(cache_dir), ORIGIN_STREAM_MODE="file",
                ORIGIN_PRECISION="smart", ORIGIN_MAX_PROCESSES=str(MAX_PROCESSES),
                ORIGIN_QUEUE_TIMEOUT_MS=str(round(QUEUE_TIMEOUT_S * 1000)),
                ORIGIN_FFMPEG_NICE=str(nice),
            )  # fmt: skip
            stack.enter_context(background(
                [sys.executable, "-m", "origin", "serve", "--port", str(port)],
                port=port, log=log, ready_path="/healthz", env=server_env,
            ))  # fmt: skip
            # One edit, in the database both servers read.
            redirect_from = redirect_from or move_cut(port, clips)
            servers[nice] = Server(
                nice, port, server_pid(port), log, cache_dir,
                probes(port, clips, redirect_from, missing_id),
            )  # fmt: skip
        phases: dict[str, Phase] = {}
        for name, nice, saturated in (
            (IDLE, NICE_DEFAULT, False), (NICE_0, 0, True), (NICE_10, NICE_DEFAULT, True),
        ):  # fmt: skip
            busy = wait_quiet()
            if busy >= QUIET_BUSY:
                print(f"warning: the CPUs are {busy:.0%} busy before {name}", file=sys.stderr)
            print(f"phase: {name} ({seconds:g} s) …", file=sys.stderr)
            server = servers[nice]
            phases[name] = run_phase(
                name.replace(", ", "-").replace("=", ""),  # request ids allow no spaces
                server,
                workload(server.cache_dir, clips) if saturated else None,
                seconds,
                rate,
            )
        with _client(servers[NICE_DEFAULT].port) as client:
            warm_bytes = len(client.get(clips.warm).content)
    return Results(phases, warm_bytes, len(clips.load), seconds, rate)


# -- the report ----------------------------------------------------------------------


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
        "| answer (ms, p50 / p99) | idle | saturated, nice=0 | saturated, nice=10 "
        "| p99 ÷ idle p99, nice=0 | p99 ÷ idle p99, nice=10 "
        f"| nice=10 ≤ {TARGET:g}x idle | samples (idle / 0 / 10) |",
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


def _sched_rows(results: Results) -> list[str]:
    out = [
        "| phase | event-loop lag: mean | event-loop lag: p99 | event loop thread: CPU "
        "| its wait for a CPU per wake-up (mean) | its wait, share of the phase "
        "| server's other threads: CPU | sampler thread: wait per wake-up "
        "| ffmpeg seen with a niced autogroup |",
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
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    per_kind = results.rate * results.seconds
    autogroup = AUTOGROUP.read_text().strip() if AUTOGROUP.exists() else "absent"
    out = [
        BEGIN,
        "## Responsiveness under a saturated pool",
        "",
        f"Generated by `.venv/bin/python -m bench.responsiveness` on {now}; the run took "
        f"{elapsed_s:.0f} s.",
        "",
        f"- **Machine**: {len(os.sched_getaffinity(0))} CPUs, {_cpu_model()}, Linux "
        f"{os.uname().release}, `kernel.sched_autogroup_enabled` = {autogroup}; client and "
        f"servers share the CPUs. Two `origin serve` (smart cut, `ORIGIN_MAX_PROCESSES="
        f"{MAX_PROCESSES}`, `ORIGIN_QUEUE_TIMEOUT_MS={round(QUEUE_TIMEOUT_S * 1000)}`), one with "
        f"`ORIGIN_FFMPEG_NICE=0`, one with `{NICE_DEFAULT}`; the source above cut every "
        f"{CLIP_EVERY_S} s (warm clip: {results.clip_bytes / 1e6:.1f} MB). Hits, 304s and 302s "
        "find their clip row in the origin's row cache; a 404 asks PostgreSQL every time.",
        f"- **Saturation**: {LOAD_CLIENTS} client threads cut {results.load_clips} clips that "
        "start 1 s into a GOP, cold (cached file deleted first), one after another, so both "
        "slots re-encode a head with x264 and a third request waits for one. The saturation "
        "table shows the pool full and the CPUs busy. Idle: the nice=10 server, no load.",
        f"- **Sampler**: one thread, one keep-alive connection (httpx), the kinds in turn, each "
        f"{results.rate:g} times a second for {results.seconds:g} s a phase (~{per_kind:.0f} "
        "samples per kind); a second connection asks for cold clips for the 429 row. Latency "
        "= request sent → body read. A p99 of a few hundred samples is the 2nd or 3rd worst: "
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
        "count the ffmpeg processes whose scheduler autogroup is niced: with autogroups on, "
        "the kernel shares CPU time between sessions first, and a nice value ranks a process "
        "only against the processes of its own session, so the pool nices each ffmpeg's "
        "session (its autogroup) as well as its threads.",
        "",
        *_sched_rows(results),
        "",
        END,
    ]
    return "\n".join(out)


def write_section(section: str) -> None:
    """Replace the text between the markers in docs/benchmarks.md, or append it."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    head, begin, rest = text.partition(BEGIN)
    if begin:
        _, end, tail = rest.partition(END)
        if not end:
            raise RuntimeError(f"{DOC}: {BEGIN} without {END}")
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its section of docs/benchmarks.md."""
    parser = argparse.ArgumentParser(prog="python -m bench.responsiveness", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20, help="per phase (default 20)")
    parser.add_argument(
        "--rate", type=float, default=15, help="samples a second of each kind (default 15)"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rate <= 0:
        parser.error("--seconds and --rate must be positive")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    started = time.monotonic()
    try:
        results = measure(args.seconds, args.rate)
    except KeyboardInterrupt:
        return 130
    section = render(results, time.monotonic() - started)
    write_section(section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
