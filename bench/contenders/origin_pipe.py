"""The origin cold, pipe mode: ffmpeg's fragmented MP4 sent as it comes, chunked."""

from __future__ import annotations

from bench.contenders.base import Contender, cold_on

CONTENDER = Contender(
    "origin cold, pipe mode",
    "a third server with `ORIGIN_STREAM_MODE=pipe` and its own cache "
    "directory, cache file deleted before each request (fragmented MP4, chunked).",
    cold_on(lambda stage: stage.pipe),
)
