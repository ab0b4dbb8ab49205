"""Cutting runs: one clip into a temp file or a stream, inside a slot, every process recorded.

What the pool's flights (pool/runs.py) run. A file clip is cut by the smart cut
(pool/cutting/smart_cut.py: at most one ffmpeg run, for the frames it
re-encodes) when the request asks for it and the source allows, else by one
ffmpeg stream copy written again with exact edit lists and timing
(pool/cutting/editlist.py). The source's identity is checked right before a
cut. Every process runs under the supervisor (pool/supervisor.py), which
tracks, stops, reaps and records it whatever ends the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from pool.argv import PIPE_OUTPUT, build_clip_argv
from pool.cache import ClipCache
from pool.coalesce import Flight
from pool.errors import RunFailed, SourceUnavailable
from pool.mp4.boxes import Mp4Error
from pool.request import ClipRequest
from pool.slots import Claim, Slots
from pool.sources.locations import SourceError
from pool.stream import Channel, Tee
from pool.supervisor import Supervisor
from pool.uncancellable import await_uncancellable

if TYPE_CHECKING:
    from pool.cutting.smart_cut import SmartCut, SmartCutReport
    from pool.cutting.smart_plan import SmartCutUnsupported

log = logging.getLogger(__name__)

#: The ffmpeg to run: a path, or what returns it once it is known (the origin
#: finds and checks ffmpeg after it starts listening; a cut waits for that).
FfmpegBinary = str | Callable[[], Awaitable[str]]
SmartCutObserver = Callable[[ClipRequest, "SmartCutReport | SmartCutUnsupported"], None]


class Cutter:
    """Runs cuts within the slots, under the supervisor; counts the clips cut."""

    def __init__(
        self,
        ffmpeg: FfmpegBinary,
        cache: ClipCache,
        slots: Slots,
        supervisor: Supervisor,
        *,
        smart_max_reencode_s: float | None = None,
        on_smart_cut: SmartCutObserver | None = None,
    ) -> None:
        self._ffmpeg = ffmpeg
        self.cache = cache
        self.slots = slots
        self.supervisor = supervisor
        self._smart_max_reencode_s = smart_max_reencode_s
        self._on_smart_cut = on_smart_cut
        # Clips cut (smart cut, copy or stream) by form; one cut may take 0 to 2 ffmpeg runs.
        self.cuts: dict[str, int] = {}

    async def to_temp(
        self,
        flight: Flight[Path | None],
        request: ClipRequest,
        claim: Claim | None = None,
        *,
        in_slot: Callable[[], Awaitable[None]] | None = None,
    ) -> Path:
        """Take a slot (with ``claim``) and cut the clip into a new temp file the caller owns.

        ``in_slot`` runs once the slot is taken, before the cut; what it raises
        gives the slot back unused and reaches the caller.
        """
        _check_source(request)  # before the slot: a missing source never waits for one
        ffmpeg = await self._binary()
        temp = await self._cut_in_slot(flight, request, claim or Claim(), ffmpeg, in_slot)
        self._count_cut(request)
        return temp

    async def _binary(self) -> str:
        return self._ffmpeg if isinstance(self._ffmpeg, str) else await self._ffmpeg()

    async def _cut_in_slot(
        self,
        flight: Flight[Path | None],
        request: ClipRequest,
        claim: Claim,
        ffmpeg: str,
        in_slot: Callable[[], Awaitable[None]] | None,
    ) -> Path:
        async with self.slots.acquire(claim):
            if in_slot is not None:
                await in_slot()
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
        async with self.supervisor.process(flight, request, argv, watch_file=temp) as process:
            result = await process.wait()
        self.supervisor.raise_for(result, request)
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
                async with self.supervisor.process(
                    flight, request, argv, watch_file=cut.encode_output
                ) as run:
                    result = await run.wait()
                self.supervisor.raise_for(result, request)
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
                async with self.supervisor.process(
                    flight, request, argv, watch_file=None
                ) as process:
                    while chunk := await process.read():
                        tee.write(chunk)
                        await channel.put(chunk)
                    result = await process.wait()
                self.supervisor.raise_for(result, request)
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

    def _count_cut(self, request: ClipRequest) -> None:
        self.cuts[request.form] = self.cuts.get(request.form, 0) + 1


def _check_source(request: ClipRequest) -> None:
    if request.source_check is None:
        return
    try:
        request.source_check()
    except SourceError as exc:
        raise SourceUnavailable(detail=str(exc)) from None
