"""The pool the benchmark saturates, the kinds of answer it times, what a phase records."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bench.runner.origin import Origin
from bench.saturation.procfs import Sched
from origin.settings import Settings

MAX_PROCESSES = 2  # one slot per CPU of the benchmark machine
QUEUE_TIMEOUT_S = 0.1
NICE_DEFAULT = Settings().ffmpeg_nice  # the server's default: what this benchmark vouches for
# Three clients for two slots: while two cuts run, the third client waits in
# the slot queue (and gets a 429 after QUEUE_TIMEOUT_S, and asks again), so a
# slot is taken again as soon as it frees, and the sampler's own cold request
# usually queues behind it and gets its 429.
LOAD_CLIENTS = 3

IDLE, NICE_0, NICED = "idle", "saturated, nice=0", f"saturated, nice={NICE_DEFAULT}"
PHASES = (IDLE, NICE_0, NICED)
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
    """One timed request: its ``X-Request-ID`` (to find it in the server's log) and seconds.

    The waits are how long, during the request, a thread was runnable but
    waiting for a CPU (schedstat): the sampler's own thread, which a remote
    client would not share with the server, and the server's event loop.
    """

    request_id: str
    seconds: float
    client_wait_s: float
    loop_wait_s: float


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
    ffmpeg_niced: int  # … of them niced in the server's autogroup (ORIGIN_FFMPEG_NICE reached them)


@dataclass(frozen=True)
class Server:
    """One running origin and what the sampler asks it."""

    nice: int
    origin: Origin
    pid: int
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
