"""A clip answer reads what the page cache holds in the event loop, and the rest in a thread.

Real files and Starlette's real FileResponse code (ClipFileResponse), called as
uvicorn calls it. "No thread" is checked by holding every token of anyio's
default thread limiter: a read that needed a thread would wait for one.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from starlette.types import Message

from origin.responses import ClipFileResponse

pytestmark = pytest.mark.anyio

SIZE = 3 * 1024 * 1024 + 12345  # three 1 MiB chunks and a short one


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(SIZE)
    path = tmp_path / "clip.mp4"
    with path.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())  # clean pages: evictable on request
    return path, data


def evict(path: Path, offset: int = 0, length: int = 0) -> None:
    """Drop the file's pages (from ``offset``, ``length`` bytes; 0: to the end) from memory."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@asynccontextmanager
async def no_threads() -> AsyncIterator[None]:
    """Every worker thread token taken: anything run in a thread waits."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    borrowers = [object() for _ in range(int(limiter.total_tokens))]
    for borrower in borrowers:
        limiter.acquire_on_behalf_of_nowait(borrower)
    try:
        yield
    finally:
        for borrower in borrowers:
            limiter.release_on_behalf_of(borrower)


async def serve(path: Path, method: str = "GET", range_: str | None = None) -> tuple[int, bytes]:
    """Call the response as uvicorn does (ASGI 2.4: no disconnect listener); status, body."""
    headers = [] if range_ is None else [(b"range", range_.encode())]
    scope = {"type": "http", "method": method, "headers": headers,
             "asgi": {"spec_version": "2.4"}, "extensions": {}}  # fmt: skip
    messages: list[Message] = []

    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        messages.append(message)

    # Stat'ed by the caller, as origin.responses.clip_file_response does.
    response = ClipFileResponse(path, media_type="video/mp4", stat_result=os.stat(path))
    with anyio.fail_after(2):
        await response(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return messages[0]["status"], body


@pytest.mark.parametrize(
    ("method", "range_", "status", "part"),
    [
        ("GET", None, 200, slice(None)),
        ("GET", "bytes=100-70000", 206, slice(100, 70001)),
        ("GET", "bytes=2000000-", 206, slice(2000000, None)),
        ("HEAD", None, 200, slice(0, 0)),
    ],
    ids=["whole", "range", "open-range", "head"],
)
async def test_a_cached_clip_is_sent_without_a_thread(
    clip: tuple[Path, bytes], method: str, range_: str | None, status: int, part: slice
) -> None:
    path, data = clip
    async with no_threads():
        assert await serve(path, method, range_) == (status, data[part])


async def test_what_is_not_in_memory_is_read_in_a_thread(clip: tuple[Path, bytes]) -> None:
    path, data = clip
    evict(path)
    async with no_threads():
        with pytest.raises(TimeoutError):  # it waits for a thread: the test above can fail
            await serve(path)
    evict(path)
    assert await serve(path) == (200, data)
    evict(path, offset=SIZE // 2)  # the first half in memory, the second half not
    assert await serve(path, range_=f"bytes={SIZE // 2 - 5000}-") == (206, data[SIZE // 2 - 5000 :])
