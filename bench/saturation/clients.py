"""The threads that talk to a server during a phase: sampler, 429 sampler, load, poller."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.runner.origin import fetch_cold
from bench.saturation.model import (
    MAX_PROCESSES,
    REJECTED,
    Answer,
    Cold,
    Poll,
    Probe,
    Server,
)
from bench.saturation.procfs import Sched, ffmpeg_children, read_sched

SATURATION_WAIT_S = 15.0
POLL_S = 0.25


def client(port: int) -> httpx.Client:
    """One keep-alive connection to the server on ``port``, as a CDN keeps to its origin."""
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0)


def _timed(http: httpx.Client, server: Server, probe: Probe, request_id: str) -> Answer | int:
    """GET ``probe``'s path (body read to the end): the timed answer, or the status if unexpected.

    Runs in the sampler's thread: it reads its own schedstat and the server
    main thread's around the request, an ~0.02 ms read each, outside the timing.
    """
    headers = {**probe.headers, "X-Request-ID": request_id}
    me, loop = Path("/proc/thread-self"), Path(f"/proc/{server.pid}/task/{server.pid}")
    own, theirs = read_sched(me), read_sched(loop)
    start = time.perf_counter()
    response = http.get(probe.path, headers=headers)
    took = time.perf_counter() - start
    if response.status_code != probe.status:
        return response.status_code
    own_wait, loop_wait = (read_sched(me) - own).wait_ns, (read_sched(loop) - theirs).wait_ns
    return Answer(request_id, took, own_wait / 1e9, loop_wait / 1e9)


def sample(
    server: Server, rate: float, name: str, seconds: float
) -> tuple[dict[str, list[Answer]], Sched]:
    """Ask for each cheap kind ``rate`` times a second, in turn, one request at a time.

    Runs for ``seconds``, in a process of its own (see run_phase). Also
    returns this thread's own scheduling over the phase: a client that waits
    for a CPU adds that wait to every latency it measures.
    """
    answers: dict[str, list[Answer]] = {p.kind: [] for p in server.probes}
    period = 1 / (rate * len(server.probes))
    me = Path("/proc/thread-self")
    started = read_sched(me)
    with client(server.origin.port) as http:
        due = time.monotonic()
        end = due + seconds
        for n in itertools.count():
            if time.monotonic() >= end:
                break
            probe = server.probes[n % len(server.probes)]
            request_id = f"{name}-{n}"
            answer = _timed(http, server, probe, request_id)
            if isinstance(answer, int):
                raise RuntimeError(f"{probe.kind}: {probe.path} answered {answer}")
            answers[probe.kind].append(answer)
            # A fixed schedule, but no burst to catch up after a slow answer:
            # the sampler must not add load of its own when the server lags.
            due = max(due + period, time.monotonic())
            time.sleep(max(0.0, due - time.monotonic()))
    return answers, read_sched(me) - started


def sample_429(
    server: Server, cold: Sequence[Cold], name: str, seconds: float
) -> tuple[list[Answer], int]:
    """Ask for cold clips in turn for ``seconds``; the 429s, and how many got a slot instead.

    A request that gets a slot within the queue timeout (a cut ended just then)
    is a smart cut, not a 429: it is counted apart, and deleted before its
    clip is asked for again. Runs in a process of its own (see run_phase).
    """
    answers: list[Answer] = []
    slotted = 0
    end = time.monotonic() + seconds
    with client(server.origin.port) as http:
        for n, (path, clean) in enumerate(itertools.cycle(cold)):
            if time.monotonic() >= end:
                break
            clean()
            request_id = f"{name}-429-{n}"
            answer = _timed(http, server, Probe(REJECTED, path, 429), request_id)
            if isinstance(answer, Answer):
                answers.append(answer)
            elif answer == 200:
                slotted += 1
            else:
                raise RuntimeError(f"cold {path} answered {answer}, not 429 or 200")
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
    with client(server.origin.port) as http:
        while not stop.wait(POLL_S):
            status = http.get("/status/pool").json()
            polls.append(
                Poll(status["active_processes"], status["waiting"], *ffmpeg_children(server.pid))
            )
    return polls


def wait_saturated(port: int) -> None:
    """Wait, up to SATURATION_WAIT_S, until every slot of the server's pool is taken."""
    deadline = time.monotonic() + SATURATION_WAIT_S
    with client(port) as http:
        while http.get("/status/pool").json()["active_processes"] < MAX_PROCESSES:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the pool did not fill within {SATURATION_WAIT_S} s")
            time.sleep(0.05)
