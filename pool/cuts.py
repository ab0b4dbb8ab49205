"""Cutting runs: one clip into a temp file or a stream, inside a slot, every process recorded.

What the pool's flights run. A file clip is cut by the smart cut
(pool/cutting/smart_cut.py: at most one ffmpeg run, for the frames it
re-encodes) when the request asks for it and the source allows, else by one
ffmpeg stream copy written again with exact edit lists and timing
(pool/cutting/editlist.py). The source's identity is checked right before a
cut. Every process is spawned here, tracked by PID, stopped, reaped and
reported to the observers, whatever ends the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from pool.argv import PIPE_OUTPUT, build_clip_argv
from pool.cache import ClipCache
from pool.coalesce import Flight
from pool.errors import RunFailed, RunTimeout, SourceUnavailable, scrub
from pool.mp4.boxes import Mp4Error
from pool.process import FfmpegProcess, Outcome, RunResult
from pool.request import ClipRequest
from pool.slots import Claim, Slots
from pool.sources.locations import SourceError
from pool.stream import Channel, Tee
from pool.uncancellable import await_uncancellable

if TYPE_CHECKING:
    from pool.cutting.smart_cut import SmartCut, SmartCutReport
    from pool.cutting.smart_plan import SmartCutUnsupported

log = logging.getLogger(__name__)

#: Niceness of background (warming) runs: the lowest priority there is.
BACKGROUND_NICE = 19

RunObserver = Callable[[ClipRequest, RunResult], None]
#: The ffmpeg to run: a path, or what returns it once it is known (the origin
#: finds and checks ffmpeg after it starts listening; a cut waits for that).
FfmpegBinary = str | Callable[[], Awaitable[str]]
SmartCutObserver = Callable[[ClipRequest, "SmartCutReport | SmartCutUnsupported"], None]


class Cutter:
    """Runs cuts within the slots; counts runs and keeps the live processes for status."""

    def __init__(
        self,
        ffmpeg: FfmpegBinary,
        cache: ClipCache,
        slots: Slots,
        *,
        run_timeout_s: float | None,
        ffmpeg_nice: int = 0,
        smart_max_reencode_s: float | None = None,
        on_run: RunObserver | None = None,
        on_smart_cut: SmartCutObserver | None = None,
        claims: Mapping[Flight[Path | None], Claim] | None = None,
    ) -> None:
        self._ffmpeg = ffmpeg
        self.cache = cache
        self.slots = slots
        self.run_timeout_s = run_timeout_s
        self.ffmpeg_nice = ffmpeg_nice
        self._smart_max_reencode_s = smart_max_reencode_s
        self._on_run = on_run
        self._on_smart_cut = on_smart_cut
        self.live: dict[int, FfmpegProcess] = {}
        self._background: set[FfmpegProcess] = set()  # live background runs
        self._serving_requests = False  # while True, background runs stay paused
        # The pool's slot claims of its file runs: a background run is spawned
        # nicer, paused for requests, and reports being preempted.
        self._claims: Mapping[Flight[Path | None], Claim] = claims if claims is not None else {}
        # Clips cut (smart cut, copy or stream) by form; one cut may take 0 to 2 ffmpeg runs.
        self.cuts: dict[str, int] = {}
        # Counters (plain ints, for metrics).
        self.runs_started = 0
        self.run_outcomes: dict[Outcome, int] = {
            "ok": 0, "failed": 0, "timeout": 0, "killed": 0, "client_gone": 0, "preempted": 0,
        }  # fmt: skip

    async def to_temp(
        self, flight: Flight[Path | None], request: ClipRequest, claim: Claim | None = None
    ) -> Path:
        """Take a slot (with ``claim``) and cut the clip into a new temp file the caller owns."""
        _check_source(request)  # before the slot: a missing source never waits for one
        ffmpeg = await self._binary()
        temp = await self._cut_in_slot(flight, request, claim or Claim(), ffmpeg)
        self._count_cut(request)
        return temp

    async def _binary(self) -> str:
        return self._ffmpeg if isinstance(self._ffmpeg, str) else await self._ffmpeg()

    async def _cut_in_slot(
        self, flight: Flight[Path | None], request: ClipRequest, claim: Claim, ffmpeg: str
    ) -> Path:
        async with self.slots.acquire(claim):
            temp = self.new_temp(request.cache_key)
            try:
                if not (request.smart and await self._smart_cut(flight, request, temp, ffmpeg)):
                    copy = dataclasses.replace(request, precision="editlist")
                    await self._copy_cut(flight, copy, temp, ffmpeg)
            except BaseException:
                self.cache.discard(temp)
                raise
        return temp

    async def _copy_cut(
        self, flight: Flight[Path | None], request: ClipRequest, temp: Path, ffmpeg: str
    ) -> None:
        """Stream-copy the clip with ffmpeg; the edit list hides the pre-roll and trims the end."""
        # "file:" keeps ffmpeg from reading a colon in the path as a protocol.
        argv = build_clip_argv(ffmpeg, request, "file:" + str(temp))
        async with self._process(flight, request, argv, watch_file=temp) as process:
            result = await process.wait()
        self._raise_for(result, request)
        await self._trim_end(temp, request)

    async def _smart_cut(
        self, flight: Flight[Path | None], request: ClipRequest, temp: Path, ffmpeg: str
    ) -> bool:
        """Smart-cut the clip into ``temp``; False if it must be stream-copied instead."""
        # The cutting code (MP4 index, writer, smart-cut planning) loads with the
        # first cut, not when the server starts.
        from pool.cutting.smart_cut import prepare
        from pool.cutting.smart_plan import SmartCutUnsupported

        work: list[Path] = []

        def work_file() -> Path:
            work.append(self.new_temp(request.cache_key))
            return work[-1]

        # The blocking steps run in threads that cannot be interrupted: wait
        # for them even when cancelled, so that work files and the source
        # reader are released here, not behind our back.
        preparing = asyncio.ensure_future(
            asyncio.to_thread(prepare, ffmpeg, request, work_file, self._smart_max_reencode_s)
        )
        cut: SmartCut | None = None
        try:
            try:
                cut = await await_uncancellable(preparing)
            finally:
                if cut is None and preparing.done() and not preparing.exception():
                    preparing.result().close()  # cancelled after it was ready
            argv = cut.encode_argv
            if argv is not None:
                async with self._process(
                    flight, request, argv, watch_file=cut.encode_output
                ) as run:
                    result = await run.wait()
                self._raise_for(result, request)
            assembling = asyncio.ensure_future(asyncio.to_thread(cut.assemble, temp))
            report = await await_uncancellable(assembling)
        except SmartCutUnsupported as exc:
            self._observe_smart_cut(request, exc)  # logs the fallback
            return False
        finally:
            if cut is not None:
                cut.close()
            for path in work:
                self.cache.discard(path)
        self._observe_smart_cut(request, report)
        return True

    def _observe_smart_cut(
        self, request: ClipRequest, outcome: SmartCutReport | SmartCutUnsupported
    ) -> None:
        if self._on_smart_cut is not None:
            try:
                self._on_smart_cut(request, outcome)
            except Exception:
                log.exception("smart cut observer failed")

    async def to_stream(
        self,
        flight: Flight[Path | None],
        request: ClipRequest,
        channel: Channel,
        *,
        cache_it: bool,
    ) -> Path | None:
        """Flight body for a stream: ffmpeg → channel (and temp file) → commit."""
        key = request.cache_key
        _check_source(request)
        ffmpeg = await self._binary()
        async with self.slots.acquire():
            tee = Tee(self.cache, key if cache_it else None)
            try:
                argv = build_clip_argv(ffmpeg, request, PIPE_OUTPUT)
                async with self._process(flight, request, argv, watch_file=None) as process:
                    while chunk := await process.read():
                        tee.write(chunk)
                        await channel.put(chunk)
                    result = await process.wait()
                self._raise_for(result, request)
                temp = tee.finish()
            except BaseException:
                tee.discard()
                raise
        self._count_cut(request)
        # The output is complete: finishing the commit beats throwing it away,
        # even if the reader leaves now. The reader's clean end comes after the
        # commit, so that once a stream has ended the next request is a hit.
        flight.cancel_when_abandoned = False
        try:
            return None if temp is None else await self.commit(key, temp)
        except RunFailed:
            log.warning("streamed clip %s was not cached", key, exc_info=True)
            return None
        finally:
            channel.close()

    async def _trim_end(self, temp: Path, request: ClipRequest) -> None:
        """Make the copy show exactly the clip: first frame on time, end at the clip's end.

        See pool/cutting/editlist.py. Only a regular MP4 has edit lists; a
        fragmented one cannot carry them.
        """
        if request.mode != "file":
            return
        from pool.cutting.editlist import trim_presentation  # with the first copy cut

        # The file is written again in a thread that cannot be interrupted: wait
        # for it even when cancelled, so it never recreates a discarded temp.
        trimming = asyncio.ensure_future(
            asyncio.to_thread(trim_presentation, temp, Fraction(request.duration))
        )
        try:
            await await_uncancellable(trimming)
        except Mp4Error as exc:
            raise RunFailed(0, message=f"cannot trim the clip: {exc}") from exc

    def new_temp(self, key: str) -> Path:
        try:
            return self.cache.new_temp(key)
        except OSError as exc:
            raise RunFailed(None, f"cannot create a temp file: {exc.strerror}") from exc

    async def commit(self, key: str, temp: Path) -> Path:
        try:
            return await self.cache.commit(key, temp)
        except ValueError:
            raise RunFailed(0, message="ffmpeg produced no output") from None
        except OSError as exc:
            self.cache.discard(temp)
            raise RunFailed(None, f"cannot store the clip: {exc.strerror}") from exc
        except BaseException:
            self.cache.discard(temp)
            raise

    @contextlib.asynccontextmanager
    async def _process(
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
        if claim is not None and background:
            self._background.add(process)
            if self._serving_requests:
                process.pause()
            claim.on_promote = functools.partial(self._promote, process)
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

    def _count_cut(self, request: ClipRequest) -> None:
        self.cuts[request.form] = self.cuts.get(request.form, 0) + 1

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

    def _raise_for(self, result: RunResult, request: ClipRequest) -> None:
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


def _check_source(request: ClipRequest) -> None:
    if request.source_check is None:
        return
    try:
        request.source_check()
    except SourceError as exc:
        raise SourceUnavailable(detail=str(exc)) from None


def _could_not_open_input(result: RunResult, request: ClipRequest) -> bool:
    # ffmpeg >= 6 says "Error opening input ..."; 5.x prints "<input>: <reason>".
    # (The tail is scrubbed of URL queries, so compare with the scrubbed input.)
    tail = result.stderr_tail
    return "Error opening input" in tail or f"{scrub(request.source_input)}: " in tail
