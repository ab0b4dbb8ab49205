"""The clip pool: a typed request in, an MP4 file or a byte stream out.

One path per request: cache hit → done; miss → join the run already cutting
this key, or start one (single flight) → wait for a slot (or Saturated) →
cut into a temp file → rename into the cache. A file clip is cut by the smart
cut (pool/cutting/smart_cut.py: at most one ffmpeg run, for the frames it re-encodes)
when the request asks for it and the source allows, else by one ffmpeg stream
copy written again with exact edit lists and timing (pool/cutting/editlist.py).
The source's identity is checked right before a cut, never for a hit. Below
the disk's free-space floor a miss is cut the same way into a transient file
that only its caller sees and deletes once served.

Every ffmpeg run lives in a task the pool owns, never in a caller's task: a
caller that is cancelled (client gone) only drops its interest, and the pool
decides whether the run goes on. Consumers therefore clean up synchronously
(no awaits in their ``finally``), which matters under anyio-style cancellation
where every await in a cancelled scope fails at once.

Stream (pipe) mode: the run that a stream starts hands chunks to that stream
as ffmpeg writes them, with bounded buffering (a slow reader slows ffmpeg
down), and tees them into a cache temp file. Streams or ``get_file`` calls
that arrive while it runs wait for the finished file instead. If the starting
stream goes away and nobody else waits, the run is cancelled: ffmpeg is
killed and reaped, and nothing is cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from pool.argv import PIPE_OUTPUT, build_clip_argv
from pool.cache import ClipCache
from pool.coalesce import Flight, SingleFlight
from pool.cutting.editlist import trim_presentation
from pool.cutting.smart_cut import SmartCut, SmartCutReport, prepare
from pool.cutting.smart_plan import SmartCutUnsupported
from pool.errors import CacheFull, PoolClosed, RunFailed, RunTimeout, SourceUnavailable, scrub
from pool.mp4.boxes import Mp4Error
from pool.process import FfmpegProcess, Outcome, RunResult, await_uncancellable
from pool.request import ClipRequest
from pool.slots import Slots
from pool.sources.locations import SourceError
from pool.stream import JOIN_ATTEMPTS, Channel, ClipStream, Tee

log = logging.getLogger(__name__)

RunObserver = Callable[[ClipRequest, RunResult], None]
SmartCutObserver = Callable[[ClipRequest, "SmartCutReport | SmartCutUnsupported"], None]


CacheOutcome = Literal["hit", "miss", "coalesced", "uncached"]


@dataclass(frozen=True)
class FetchedFile:
    """A finished clip file and how it was obtained."""

    path: Path
    # hit: on disk; miss: this call cut it; coalesced: joined a run;
    # uncached: cut for this caller alone, below the disk floor (transient)
    cache: CacheOutcome

    @property
    def transient(self) -> bool:
        """True for a file that is not in the cache: serve it once, then discard it."""
        return self.cache == "uncached"


@dataclass(frozen=True)
class PoolStatus:
    """A snapshot for health checks and metrics."""

    active: int  # slots held (= live ffmpeg processes, reaping included)
    max: int
    waiting: int  # runs queued for a slot
    pids: tuple[int, ...]  # live ffmpeg process ids (for RSS from /proc)
    in_flight: int  # runs started and not finished, queued ones included
    cache_files: int
    cache_bytes: int


class ClipPool:
    """Cuts clips with a bounded number of ffmpeg processes and caches the results.

    Use from one event loop: ``await start()``, then :meth:`get_file`,
    :meth:`stream`, :meth:`cached`; ``await close()`` at shutdown.
    """

    def __init__(
        self,
        ffmpeg: str,
        cache_dir: Path,
        *,
        max_processes: int,
        queue_timeout_s: float,
        run_timeout_s: float | None,
        cache_max_bytes: int,
        cache_idle_ttl_s: float | None = None,
        cache_min_free_bytes: int = 0,
        cache_in_use_grace_s: float = 10.0,
        cleanup_interval_s: float = 60.0,
        stream_buffer_bytes: int = 256 * 1024,
        retry_after_s: float = 1.0,
        on_run: RunObserver | None = None,
        on_smart_cut: SmartCutObserver | None = None,
        smart_max_reencode_s: float | None = None,
        ffmpeg_nice: int = 0,
    ) -> None:
        self.ffmpeg = ffmpeg
        self.ffmpeg_nice = ffmpeg_nice
        self.run_timeout_s = run_timeout_s
        self.cache = ClipCache(
            cache_dir,
            max_bytes=cache_max_bytes,
            idle_ttl_s=cache_idle_ttl_s,
            min_free_bytes=cache_min_free_bytes,
            in_use_grace_s=cache_in_use_grace_s,
        )
        self.slots = Slots(max_processes, queue_timeout_s, retry_after_s=retry_after_s)
        self._flights: SingleFlight[Path | None] = SingleFlight()
        self._live: dict[int, FfmpegProcess] = {}
        self._cleanup_interval_s = cleanup_interval_s
        self._stream_buffer_bytes = stream_buffer_bytes
        self._on_run = on_run
        self._on_smart_cut = on_smart_cut
        self._smart_max_reencode_s = smart_max_reencode_s
        self._started = False
        self._closed = False
        # Counters (plain ints, for metrics).
        self.runs_started = 0
        self.coalesced_waits = 0  # requests that joined a run another request started
        self.run_outcomes: dict[Outcome, int] = {
            "ok": 0, "failed": 0, "timeout": 0, "killed": 0, "client_gone": 0,
        }  # fmt: skip

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Prepare the cache directory (removing stale temps) and start periodic cleanup."""
        if self._started:
            return
        self.cache.open()
        self.cache.cleanup()
        self.cache.start_periodic(self._cleanup_interval_s)
        self._started = True

    async def close(self, deadline_s: float = 0.0) -> None:
        """Stop taking work; let runs finish for up to ``deadline_s``, then kill the rest.

        Returns once every ffmpeg process has been reaped. Callers still
        waiting get PoolClosed.
        """
        self._closed = True
        await self.cache.stop_periodic()
        tasks = self._flights.tasks()
        if tasks and deadline_s > 0:
            await asyncio.wait(tasks, timeout=deadline_s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def status(self) -> PoolStatus:
        """Slots, queue, live PIDs and cache size right now."""
        return PoolStatus(
            active=self.slots.active,
            max=self.slots.max,
            waiting=self.slots.waiting,
            pids=tuple(sorted(self._live)),
            in_flight=len(self._flights),
            cache_files=self.cache.files,
            cache_bytes=self.cache.bytes_on_disk,
        )

    # -- requests ----------------------------------------------------------

    def cached(self, request: ClipRequest) -> Path | None:
        """The finished file for ``request`` if it is in the cache (counts a hit or miss)."""
        self._check_open()
        return self.cache.lookup(request.cache_key)

    async def get_file(self, request: ClipRequest) -> Path:
        """Return the path of the finished clip, cutting it first if needed.

        Concurrent calls for the same clip share one ffmpeg run. Raises
        Saturated, SourceUnavailable, RunFailed/RunTimeout, CacheFull (the disk
        is below its free-space floor: :meth:`fetch_file` cuts a transient
        file instead) or PoolClosed. The file may be evicted later; open it soon.
        """
        fetched = await self.fetch_file(request, transient_ok=False)
        return fetched.path

    async def fetch_file(self, request: ClipRequest, *, transient_ok: bool = True) -> FetchedFile:
        """:meth:`get_file`, also saying how the file was found (for metrics).

        Below the disk's free-space floor a clip that is not cached yet is
        cut the same way into a file of its own that is not cached
        (``transient``): the caller serves it once and deletes it
        (:meth:`discard_transient`). Without ``transient_ok`` that is CacheFull.
        """
        self._check_open()
        key = request.cache_key
        how: CacheOutcome = "hit"
        for _ in range(JOIN_ATTEMPTS):
            path = self.cache.lookup(key)
            if path is not None:
                return FetchedFile(path, how)
            flight = self._flights.get(key)
            if flight is None:
                if not self._has_room():
                    if not transient_ok:
                        raise CacheFull()
                    return FetchedFile(await self._cut_transient(request), "uncached")
                flight = self._flights.start(key, lambda f: self._cut_to_file(f, request))
                how = "miss"
            else:
                self.coalesced_waits += 1
                how = "coalesced"
            path = await flight.wait()
            if path is not None:
                return FetchedFile(path, how)
            # The run we joined was a stream whose file did not get cached; go again.
        raise RunFailed(None, message="the clip could not be stored")

    def discard_transient(self, fetched: FetchedFile) -> None:
        """Delete a transient file once it has been served (or will not be)."""
        if fetched.transient:
            self.cache.discard(fetched.path)

    def stream(self, request: ClipRequest) -> ClipStream:
        """A :class:`ClipStream` of the clip's bytes; nothing starts until it is opened.

        Open it (``await s.open()`` or ``async with``) before committing to a
        response, so Saturated and early failures can still become a status code.
        """
        return ClipStream(self, request)

    # -- runs --------------------------------------------------------------

    async def _cut_to_file(self, flight: Flight[Path | None], request: ClipRequest) -> Path:
        """Flight body for a file: slot, cut into a temp, commit."""
        temp = await self._cut_to_temp(flight, request)
        # The slot is free again: the process is reaped; only the rename is left.
        return await self._commit(request.cache_key, temp)

    async def _cut_to_temp(self, flight: Flight[Path | None], request: ClipRequest) -> Path:
        """Take a slot and cut the clip into a new temp file; the caller owns the file."""
        _check_source(request)  # before the slot: a missing source never waits for one
        async with self.slots.acquire():
            temp = self._new_temp(request.cache_key)
            try:
                if not (request.smart and await self._smart_cut(flight, request, temp)):
                    copy = dataclasses.replace(request, precision="editlist")
                    await self._copy_cut(flight, copy, temp)
            except BaseException:
                self.cache.discard(temp)
                raise
        return temp

    async def _cut_transient(self, request: ClipRequest) -> Path:
        """Cut a clip the cache has no room for into a temp file only the caller sees.

        Each caller cuts its own (there is no finished file for others to
        wait for), still within the slots, so the disk floor cannot turn into
        an unbounded number of runs. The run is the pool's task as always;
        if the caller goes away, it is cancelled, and a file it finished
        anyway is deleted.
        """
        flight = self._flights.start(
            request.cache_key,
            lambda f: self._cut_to_temp(f, request),
            cancel_when_abandoned=True,
            shared=False,
        )
        try:
            path = await flight.wait()
        except asyncio.CancelledError:
            flight.task.add_done_callback(self._discard_result)
            raise
        assert path is not None
        return path

    def _discard_result(self, task: asyncio.Task[Path | None]) -> None:
        if not task.cancelled() and task.exception() is None and (path := task.result()):
            self.cache.discard(path)

    async def _copy_cut(
        self, flight: Flight[Path | None], request: ClipRequest, temp: Path
    ) -> None:
        """Stream-copy the clip with ffmpeg; the edit list hides the pre-roll and trims the end."""
        # "file:" keeps ffmpeg from reading a colon in the path as a protocol.
        argv = build_clip_argv(self.ffmpeg, request, "file:" + str(temp))
        async with self._process(flight, request, argv, watch_file=temp) as process:
            result = await process.wait()
        self._raise_for(result, request)
        await self._trim_end(temp, request)

    async def _smart_cut(
        self, flight: Flight[Path | None], request: ClipRequest, temp: Path
    ) -> bool:
        """Smart-cut the clip into ``temp``; False if it must be stream-copied instead."""
        work: list[Path] = []

        def work_file() -> Path:
            work.append(self._new_temp(request.cache_key))
            return work[-1]

        # The blocking steps run in threads that cannot be interrupted: wait
        # for them even when cancelled, so that work files and the source
        # reader are released here, not behind our back.
        preparing = asyncio.ensure_future(
            asyncio.to_thread(prepare, self.ffmpeg, request, work_file, self._smart_max_reencode_s)
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

    async def _cut_to_stream(
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
        async with self.slots.acquire():
            tee = Tee(self.cache, key if cache_it else None)
            try:
                argv = build_clip_argv(self.ffmpeg, request, PIPE_OUTPUT)
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
        # The output is complete: finishing the commit beats throwing it away,
        # even if the reader leaves now. The reader's clean end comes after the
        # commit, so that once a stream has ended the next request is a hit.
        flight.cancel_when_abandoned = False
        try:
            return None if temp is None else await self._commit(key, temp)
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
        # The file is written again in a thread that cannot be interrupted: wait
        # for it even when cancelled, so it never recreates a discarded temp.
        trimming = asyncio.ensure_future(
            asyncio.to_thread(trim_presentation, temp, Fraction(request.duration))
        )
        try:
            await await_uncancellable(trimming)
        except Mp4Error as exc:
            raise RunFailed(0, message=f"cannot trim the clip: {exc}") from exc

    def _new_temp(self, key: str) -> Path:
        try:
            return self.cache.new_temp(key)
        except OSError as exc:
            raise RunFailed(None, f"cannot create a temp file: {exc.strerror}") from exc

    async def _commit(self, key: str, temp: Path) -> Path:
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
        """Spawn ffmpeg, track its PID, and always stop, reap and record it."""
        try:
            process = await FfmpegProcess.spawn(
                argv,
                timeout_s=self.run_timeout_s,
                pipe_stdout=watch_file is None,
                watch_file=watch_file,
                nice=self.ffmpeg_nice,
            )
        except OSError as exc:
            raise RunFailed(None, f"cannot start ffmpeg: {exc.strerror}") from exc
        self._live[process.pid] = process
        self.runs_started += 1
        try:
            yield process
        finally:
            try:
                await process.stop("client_gone" if flight.abandoned else "killed")
            finally:
                del self._live[process.pid]
                if process.result is not None:
                    self._record(request, process.result)

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

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosed()
        if not self._started:
            raise RuntimeError("ClipPool.start() was not awaited")

    def _has_room(self) -> bool:
        if self.cache.has_room():
            return True
        self.cache.enforce_limits()
        return self.cache.has_room()


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


__all__ = [
    "CacheOutcome",
    "ClipPool",
    "ClipStream",
    "FetchedFile",
    "PoolStatus",
    "RunObserver",
    "SmartCutObserver",
]
