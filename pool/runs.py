"""The pool's runs: flights it owns, started to cut a file, a transient file or a stream.

Every ffmpeg run lives in a task the pool owns, never in a caller's task: a
caller that is cancelled (client gone) only drops its interest, and the pool
decides whether the run goes on. Consumers therefore clean up synchronously
(no awaits in their ``finally``), which matters under anyio-style cancellation
where every await in a cancelled scope fails at once.

A file run copies the clip from the shared store if another process stored
it; else it takes a slot and the clip's cut lease, or waits while the
process holding the lease cuts (pool/fleet.py); then it cuts (pool/cuts.py)
into a temp file, renames it into the cache and writes it through to the
store. A transient run (below the disk's free-space floor) cuts a file only
its caller sees.

A stream run (pipe mode) hands chunks to the stream that started it as
ffmpeg writes them, with bounded buffering (a slow reader slows ffmpeg down),
and tees them into a cache temp file. If the starting stream goes away and
nobody else waits, the run is cancelled: ffmpeg is killed and reaped, and
nothing is cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from pool.coalesce import Flight, SingleFlight
from pool.cuts import Cutter
from pool.errors import Preempted
from pool.fleet import Fleet, Lease, LeaseHeld
from pool.request import ClipRequest
from pool.shared_store import SharedStore
from pool.slots import Claim
from pool.stream import Channel


class Runs:
    """Starts the pool's runs as single flights and keeps each file run's slot claim."""

    def __init__(
        self,
        cutter: Cutter,
        claims: dict[Flight[Path | None], Claim],
        *,
        store: SharedStore | None,
        fleet: Fleet | None,
        stream_buffer_bytes: int,
    ) -> None:
        self.flights: SingleFlight[Path | None] = SingleFlight()
        self._cutter = cutter
        # The slot claim of each file run, from its start until it is done:
        # promoted when a request joins it, read by the supervisor for priority.
        self._claims = claims
        self._store = store
        self._fleet = fleet
        self._stream_buffer_bytes = stream_buffer_bytes

    def start_file(self, request: ClipRequest, *, background: bool) -> Flight[Path | None]:
        """Start the run that puts this clip in the cache (a ``background`` one yields its slot)."""
        claim = Claim(background=background)
        flight = self.flights.start(
            request.cache_key, lambda f: self._cut_to_file(f, request, claim)
        )
        claim.on_preempt = flight.task.cancel
        self._claims[flight] = claim
        flight.task.add_done_callback(lambda _task: self._claims.pop(flight, None))
        return flight

    def promote(self, flight: Flight[Path | None]) -> None:
        """A request joined this run: if it was a background run, it is a request run now."""
        claim = self._claims.get(flight)
        if claim is not None:
            claim.promote()

    def start_stream(
        self, request: ClipRequest, *, cache_it: bool
    ) -> tuple[Flight[Path | None], Channel]:
        """Start a pipe-mode run and the channel its bytes arrive on (cached if ``cache_it``)."""
        channel = Channel(self._stream_buffer_bytes)
        flight = self.flights.start(
            request.cache_key,
            lambda f: self._cutter.to_stream(f, request, channel, cache_it=cache_it),
            cancel_when_abandoned=True,
            shared=cache_it,  # an uncached run has no file for others to wait for
        )
        flight.retain()
        flight.task.add_done_callback(channel.close_from)
        return flight, channel

    async def cut_transient(self, request: ClipRequest) -> Path:
        """Cut a clip the cache has no room for into a temp file only the caller sees.

        Each caller cuts its own (there is no finished file for others to
        wait for), still within the slots, so the disk floor cannot turn into
        an unbounded number of runs. The run is the pool's task as always;
        if the caller goes away, it is cancelled, and a file it finished
        anyway is deleted.
        """
        flight = self.flights.start(
            request.cache_key,
            lambda f: self._transient_body(f, request),
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

    async def _cut_to_file(
        self, flight: Flight[Path | None], request: ClipRequest, claim: Claim
    ) -> Path:
        """Flight body for a file: the store's copy, else slot, lease, cut, commit, write through.

        The lease is claimed in the slot (pool/fleet.py): a request refused a
        slot never reaches the database. If another process holds the lease,
        the slot goes back while this run waits for that cut.
        """
        key = request.cache_key
        fleet = self._fleet
        if fleet is None:
            return await self._cut(flight, request, claim, None, None)
        stored = await fleet.store.fetch(key)
        if stored is None:
            lease = fleet.lease(key)
            try:
                return await self._cut(flight, request, claim, lease, lease.take)
            except LeaseHeld:
                stored = await lease.wait_for_holder()
                if stored is None:
                    return await self._cut(flight, request, claim, lease, None)
        flight.from_store = True
        return await self._cutter.commit(key, stored)

    async def _cut(
        self,
        flight: Flight[Path | None],
        request: ClipRequest,
        claim: Claim,
        lease: Lease | None,
        in_slot: Callable[[], Awaitable[None]] | None,
    ) -> Path:
        """Cut in a slot (``in_slot`` first), commit, write through; ``lease`` goes back after."""
        key = request.cache_key
        try:
            temp = await self._cutter.to_temp(flight, request, claim, in_slot=in_slot)
            # The slot is free again: the process is reaped; only the rename is left.
            path = await self._cutter.commit(key, temp)
        except BaseException as exc:
            if lease is not None:
                lease.give_back()
            if isinstance(exc, asyncio.CancelledError) and claim.preempted:
                raise Preempted() from None
            raise
        if self._store is not None:
            self._store.write_through(key, path, then=lease.give_back if lease else None)
        return path

    async def _transient_body(self, flight: Flight[Path | None], request: ClipRequest) -> Path:
        if self._store is not None:
            stored = await self._store.fetch(request.cache_key)
            if stored is not None:
                return stored
        return await self._cutter.to_temp(flight, request)

    def _discard_result(self, task: asyncio.Task[Path | None]) -> None:
        if not task.cancelled() and task.exception() is None and (path := task.result()):
            self._cutter.cache.discard(path)
