"""The clip pool: a typed request in, the clip out, as a finished file or a byte stream.

:meth:`ClipPool.clip` is the one call a route makes. One path per request:
cache hit → done; miss → join the run already cutting this key, or start one
(single flight, pool/runs.py) → with a shared store (pool/shared_store.py):
copy the clip if another process stored it → wait for a slot (or Saturated;
background runs yield theirs, pool/slots.py) → claim the clip's cut lease, or
give the slot back and wait while the process holding it cuts
(pool/fleet.py) → cut (pool/cuts.py) into a temp file → rename into the
cache → write it through to the store. Below the disk's free-space floor
a miss is cut the same way into a transient file that only its caller sees
and deletes once served. In pipe mode a request that needs no length gets a
stream of the bytes as ffmpeg writes them; streams or ``get_file`` calls that
arrive while it runs wait for the finished file instead.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pool.answers import CacheOutcome, FetchedFile, PoolStatus
from pool.cache import ClipCache
from pool.coalesce import Flight
from pool.cuts import Cutter, FfmpegBinary, SmartCutObserver
from pool.cutting.index_cache import INDEXES
from pool.errors import CacheFull, PoolClosed, Preempted, RunFailed
from pool.fleet import CutLeases, Fleet
from pool.process import Outcome
from pool.request import ClipRequest
from pool.runs import Runs
from pool.shared_store import SharedStore
from pool.slots import Claim, Slots
from pool.store import ClipStore
from pool.stream import ClipStream
from pool.supervisor import RunObserver, Supervisor

# How often a caller whose joined run did not leave a cached file starts over.
JOIN_ATTEMPTS = 3


class ClipPool:
    """Cuts clips with a bounded number of ffmpeg processes and caches the results.

    Use from one event loop: ``await start()``, then :meth:`clip` (what a
    request path calls), or :meth:`get_file`, :meth:`fetch_file`,
    :meth:`stream`, :meth:`cached`; ``await close()`` at shutdown.
    """

    def __init__(
        self,
        ffmpeg: FfmpegBinary,
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
        store: ClipStore | None = None,
        leases: CutLeases | None = None,
        index_cache_max_bytes: int | None = None,
    ) -> None:
        self.cache = ClipCache(
            cache_dir,
            max_bytes=cache_max_bytes,
            idle_ttl_s=cache_idle_ttl_s,
            min_free_bytes=cache_min_free_bytes,
            in_use_grace_s=cache_in_use_grace_s,
        )
        if index_cache_max_bytes is not None:
            # Built indexes are saved beside the clips (a directory the cache ignores),
            # while the disk is above the cache's floor.
            INDEXES.configure(
                index_cache_max_bytes, cache_dir / "indexes", has_room=self.cache.has_room
            )
        claims: dict[Flight[Path | None], Claim] = {}
        self._supervisor = Supervisor(
            run_timeout_s=run_timeout_s, ffmpeg_nice=ffmpeg_nice, on_run=on_run, claims=claims
        )
        self.slots = Slots(
            max_processes, queue_timeout_s, retry_after_s=retry_after_s,
            on_requests=self._supervisor.requests_serving,
        )  # fmt: skip
        self._cutter = Cutter(
            ffmpeg, self.cache, self.slots, self._supervisor,
            smart_max_reencode_s=smart_max_reencode_s, on_smart_cut=on_smart_cut,
        )  # fmt: skip
        self.store = SharedStore(store, self.cache) if store is not None else None
        self.fleet = Fleet(self.store, leases) if self.store is not None else None
        self._runs = Runs(
            self._cutter, claims, store=self.store, fleet=self.fleet,
            stream_buffer_bytes=stream_buffer_bytes,
        )  # fmt: skip
        self._cleanup_interval_s = cleanup_interval_s
        self._started = False
        self._closed = False
        self.coalesced_waits = 0  # requests that joined a run another request started

    @property
    def runs_started(self) -> int:
        """ffmpeg processes started so far."""
        return self._supervisor.runs_started

    @property
    def cuts(self) -> dict[str, int]:
        """Clips cut so far (not copied from the store), by form."""
        return self._cutter.cuts

    @property
    def run_outcomes(self) -> dict[Outcome, int]:
        """How the runs so far ended."""
        return self._supervisor.run_outcomes

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
        tasks = self._runs.flights.tasks()
        if tasks and deadline_s > 0:
            await asyncio.wait(tasks, timeout=deadline_s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.store is not None:
            await self.store.finish_writes()
        if self.fleet is not None:
            await self.fleet.finish()
        self.cache.close()

    def status(self) -> PoolStatus:
        """Slots, queue, live PIDs and cache size right now."""
        return PoolStatus(
            active=self.slots.active,
            max=self.slots.max,
            waiting=self.slots.waiting,
            active_background=self.slots.active_background,
            waiting_background=self.slots.waiting_background,
            pids=tuple(sorted(self._supervisor.live)),
            in_flight=len(self._runs.flights),
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

    async def fetch_file(
        self, request: ClipRequest, *, transient_ok: bool = True, background: bool = False
    ) -> FetchedFile:
        """:meth:`get_file`, also saying how the file was found (for metrics).

        Below the disk's free-space floor a clip that is not cached yet is
        cut the same way into a file of its own that is not cached
        (``transient``): the caller serves it once and deletes it
        (:meth:`discard_transient`). Without ``transient_ok`` that is CacheFull.

        A ``background`` call (warming) cuts only in a slot no request wants
        and raises Preempted when a request takes its slot back; a request
        that joins a background run makes it a request run.
        """
        self._check_open()
        key = request.cache_key
        how: CacheOutcome = "hit"
        for _ in range(JOIN_ATTEMPTS):
            path = self.cache.lookup(key)
            if path is not None:
                return FetchedFile(path, how)
            flight = self._runs.flights.get(key)
            if flight is None:
                if not self._has_room():
                    if not transient_ok:
                        raise CacheFull()
                    return FetchedFile(await self._runs.cut_transient(request), "uncached")
                flight = self._runs.start_file(request, background=background)
                how = "miss"
            else:
                self.coalesced_waits += 1
                how = "coalesced"
                if not background:
                    self._runs.promote(flight)
            try:
                path = await flight.wait()
            except Preempted:
                if background:
                    raise
                continue  # preempted for another request before ours joined: go again
            if path is not None:
                return FetchedFile(path, "store" if flight.from_store else how)
            # The run we joined was a stream whose file did not get cached; go again.
        raise RunFailed(None, message="the clip could not be stored")

    async def warm(self, request: ClipRequest) -> bool:
        """Make sure the shared store holds this clip, cutting it in the background if needed.

        True if this call put it there, False if it was already stored.
        Raises Preempted when a request needed the slot (call again later),
        and what :meth:`fetch_file` raises.
        """
        self._check_open()
        if self.store is None:
            raise RuntimeError("warming needs a clip store")
        if await self.store.contains(request.cache_key):
            return False
        fetched = await self.fetch_file(request, transient_ok=False, background=True)
        if fetched.cache == "store":
            return False
        await self.store.written(request.cache_key, fetched.path)
        return True

    def discard_transient(self, fetched: FetchedFile) -> None:
        """Delete a transient file once it has been served (or will not be)."""
        if fetched.transient:
            self.cache.discard(fetched.path)

    def stream(self, request: ClipRequest) -> ClipStream:
        """A :class:`ClipStream` of the clip's bytes; nothing starts until it is opened.

        Open it (``await s.open()`` or ``async with``) before committing to a
        response, so Saturated and early failures can still become a status code.
        """
        return ClipStream(request, self._open_stream)

    async def clip(self, request: ClipRequest, *, need_length: bool) -> FetchedFile | ClipStream:
        """The clip for this request: a finished file, or an opened stream of its bytes.

        A stream only for a pipe-mode request that can do without the length
        (no Range, no HEAD) and whose file is not finished yet; a file
        otherwise (cached, cut now, or transient below the disk floor). Raises
        what :meth:`fetch_file` and :meth:`ClipStream.open` raise.
        """
        if request.mode != "pipe" or need_length or await self._stored_elsewhere(request):
            return await self.fetch_file(request)
        stream = self.stream(request)
        await stream.open()
        if stream.path is None:
            return stream
        stream.close()  # already cut: the caller serves the file itself
        return FetchedFile(stream.path, "hit")

    async def _open_stream(self, stream: ClipStream) -> None:
        """Attach ``stream`` to the finished file, to the run cutting it, or to a new run."""
        self._check_open()
        key = stream.request.cache_key
        for _ in range(JOIN_ATTEMPTS):
            path = self.cache.lookup(key)
            if path is None:
                flight = self._runs.flights.get(key)
                if flight is None:
                    run = self._runs.start_stream(stream.request, cache_it=self._has_room())
                    await stream.attach_run(*run)
                    return
                self.coalesced_waits += 1
                path = await flight.wait()  # a late joiner waits for the finished file
            if path is not None and stream.attach_file(path):
                return
        raise RunFailed(None, message="the clip could not be stored")

    async def _stored_elsewhere(self, request: ClipRequest) -> bool:
        """True if a pipe-mode clip is in the shared store but not here: copy, do not cut."""
        if self.store is None or self.cache.lookup(request.cache_key) is not None:
            return False
        return await self.store.contains(request.cache_key)

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


__all__ = [
    "CacheOutcome",
    "ClipPool",
    "ClipStream",
    "FetchedFile",
    "PoolStatus",
    "RunObserver",
    "SmartCutObserver",
]
