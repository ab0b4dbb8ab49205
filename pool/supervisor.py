"""Every ffmpeg process the pool's cuts start: spawned, tracked, paused, stopped, reaped, recorded.

A cut (pool/cuts.py) runs its ffmpeg inside :meth:`Supervisor.process`, which
keeps the process by PID for status, gives a background (warming) run the
lowest priority and pauses it while requests hold slots, and, whatever ends
the run, stops and reaps the process and reports how it ended to the
observer. :meth:`Supervisor.raise_for` turns an unsuccessful run into its
PoolError.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

from pool.coalesce import Flight
from pool.errors import RunFailed, RunTimeout, SourceUnavailable, scrub
from pool.process import FfmpegProcess, Outcome, RunResult
from pool.request import ClipRequest
from pool.slots import Claim

log = logging.getLogger(__name__)

#: Niceness of background (warming) runs: the lowest priority there is.
BACKGROUND_NICE = 19

RunObserver = Callable[[ClipRequest, RunResult], None]


class Supervisor:
    """Spawns and reaps the cuts' processes; counts runs and keeps the live ones for status."""

    def __init__(
        self,
        *,
        run_timeout_s: float | None,
        ffmpeg_nice: int = 0,
        on_run: RunObserver | None = None,
        claims: Mapping[Flight[Path | None], Claim] | None = None,
    ) -> None:
        self.run_timeout_s = run_timeout_s
        self.ffmpeg_nice = ffmpeg_nice
        self._on_run = on_run
        self.live: dict[int, FfmpegProcess] = {}
        self._background: set[FfmpegProcess] = set()  # live background runs
        self._serving_requests = False  # while True, background runs stay paused
        # The pool's slot claims of its file runs: a background run is spawned
        # nicer, paused for requests, and reports being preempted.
        self._claims: Mapping[Flight[Path | None], Claim] = claims if claims is not None else {}
        # Counters (plain ints, for metrics).
        self.runs_started = 0
        self.run_outcomes: dict[Outcome, int] = {
            "ok": 0, "failed": 0, "timeout": 0, "killed": 0, "client_gone": 0, "preempted": 0,
        }  # fmt: skip

    @contextlib.asynccontextmanager
    async def process(
        self,
        flight: Flight[Path | None],
        request: ClipRequest,
        argv: list[str],
        *,
        watch_file: Path | None,
    ) -> AsyncIterator[FfmpegProcess]:
        """Spawn ffmpeg, track its PID, and always stop, reap and record it.

        A background run is spawned at BACKGROUND_NICE and is paused while
        any request holds a slot (:meth:`requests_serving`): a free slot is
        not a free core, and even at the lowest priority a second encoder
        slows a request's by a third here (shared caches, memory bandwidth).
        If a request joins it, it resumes with the request's niceness (where
        the system allows lowering it again).
        """
        claim = self._claims.get(flight)
        background = claim is not None and claim.background
        try:
            process = await FfmpegProcess.spawn(
                argv,
                timeout_s=self.run_timeout_s,
                pipe_stdout=watch_file is None,
                watch_file=watch_file,
                nice=BACKGROUND_NICE if background else self.ffmpeg_nice,
            )
        except OSError as exc:
            raise RunFailed(None, f"cannot start ffmpeg: {exc.strerror}") from exc
        self.live[process.pid] = process
        self.runs_started += 1
        # Read again: a request that joined during the spawn promoted the claim
        # then, with no process to tell. Paused as a background run, it would
        # never resume: that request holds a slot, and waits for this run.
        if claim is not None and claim.background:
            self._background.add(process)
            if self._serving_requests:
                process.pause()
            claim.on_promote = functools.partial(self._promote, process)
        elif background:
            process.renice(self.ffmpeg_nice)
        try:
            yield process
        finally:
            self._background.discard(process)
            if claim is not None:
                claim.on_promote = None
            try:
                await process.stop(self._stop_reason(flight))
            finally:
                del self.live[process.pid]
                if process.result is not None:
                    self._record(request, process.result)

    def requests_serving(self, serving: bool) -> None:
        """Pause background runs while a request holds a slot; resume them after."""
        self._serving_requests = serving
        for process in self._background:
            if serving:
                process.pause()
            else:
                process.resume()

    def _promote(self, process: FfmpegProcess) -> None:
        """A request now waits for this background run: full speed, request priority."""
        self._background.discard(process)
        process.resume()
        process.renice(self.ffmpeg_nice)

    def _stop_reason(self, flight: Flight[Path | None]) -> Outcome:
        claim = self._claims.get(flight)
        if claim is not None and claim.preempted:
            return "preempted"
        return "client_gone" if flight.abandoned else "killed"

    def _record(self, request: ClipRequest, result: RunResult) -> None:
        self.run_outcomes[result.outcome] += 1
        if self._on_run is not None:
            try:
                self._on_run(request, result)
            except Exception:
                log.exception("run observer failed")

    def raise_for(self, result: RunResult, request: ClipRequest) -> None:
        """Turn an unsuccessful run into the matching PoolError."""
        line = result.last_stderr_line
        if result.outcome == "timeout":
            raise RunTimeout(self.run_timeout_s or 0.0, line)
        if result.outcome == "ok":
            if result.bytes_out == 0:
                raise RunFailed(0, line, message="ffmpeg produced no output")
            return
        if result.outcome == "failed" and _could_not_open_input(result, request):
            raise SourceUnavailable(detail=line)
        raise RunFailed(result.exit_status, line)


def _could_not_open_input(result: RunResult, request: ClipRequest) -> bool:
    # ffmpeg >= 6 says "Error opening input ..."; 5.x prints "<input>: <reason>".
    # (The tail is scrubbed of URL queries, so compare with the scrubbed input.)
    tail = result.stderr_tail
    return "Error opening input" in tail or f"{scrub(request.source_input)}: " in tail
