"""One phase: every client thread at once against one server, and what the server says."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import threading
import time
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.saturation.clients import load, poll, sample, sample_429, wait_saturated
from bench.saturation.model import LOAD_CLIENTS, REJECTED, Lag, Phase, Server, Workload
from bench.saturation.procfs import Sched, cpu_busy, cpu_times, thread_scheds

LAG_METRIC = "origin_event_loop_lag_seconds"


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


def run_phase(
    name: str, server: Server, workload: Workload | None, seconds: float, rate: float
) -> Phase:
    """Sample ``server`` for ``seconds``; with a ``workload``, while its pool is saturated.

    The samplers run in processes of their own, as a CDN's requests do: in
    this one, the load threads and the poller would make them wait for the
    GIL, a delay the idle phase (no load threads) would not have.
    """
    port = server.origin.port
    stop_load, stop = threading.Event(), threading.Event()
    samplers = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    with samplers, ThreadPoolExecutor(max_workers=LOAD_CLIENTS + 1) as pool:
        try:
            # Both sampler processes up (spawned, this package loaded) before the clock starts.
            for ready in [samplers.submit(time.sleep, 0.5) for _ in range(2)]:
                ready.result()
            loads = [
                pool.submit(load, port, clips, stop_load)
                for clips in (workload.load if workload else ())
            ]
            if workload is not None:
                wait_saturated(port)
            cpu, threads, lag = cpu_times(), thread_scheds(server.pid), loop_lag(port)
            started = time.monotonic()
            sampler = samplers.submit(sample, server, rate, name, seconds)
            rejections = (
                samplers.submit(sample_429, server, workload.cold, name, seconds)
                if workload
                else None
            )
            poller = pool.submit(poll, server, stop)
            watched: list[Future[Any]] = [sampler, poller, *loads]
            if rejections is not None:
                watched.append(rejections)
            # The sampler ends after ``seconds``; earlier if a thread fails:
            # .result() raises its exception.
            wait(watched, return_when=FIRST_COMPLETED)
            stop.set()
            (answers, own), polls = sampler.result(), poller.result()
            elapsed = time.monotonic() - started
            busy, niced = cpu_busy(cpu, cpu_times())
            lag = loop_lag(port) - lag
            threads = {
                tid: now - threads.get(tid, Sched())
                for tid, now in thread_scheds(server.pid).items()
            }
            rejected = rejections.result() if rejections is not None else None
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
        if rejected is not None:
            phase.answers[REJECTED], phase.probes_slotted = rejected
        for future in loads:
            cuts, refused = future.result()
            phase.cuts += cuts
            phase.load_429 += refused
    phase.app_s = app_durations(server.origin.log)
    return phase
