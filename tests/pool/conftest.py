"""Fixtures for the clip pool: real ffmpeg, small generated samples, pools that clean up.

``ffmpeg``, ``session_dir`` and ``sample_video`` (30 s, 320x240, with B-frames)
come from tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pool.clip_pool import ClipPool
from pool.request import ClipRequest, Mode
from pool.sources.sample import make_sample

MakePool = Callable[..., Awaitable[ClipPool]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sample_no_bframes(session_dir: Path, ffmpeg: str) -> Path:
    """30 s, 320x240, 30 fps H.264 without B-frames + AAC, keyframe every 2 s."""
    return make_sample(
        ffmpeg,
        session_dir / "media" / "sample-no-bframes.mp4",
        duration_s=30,
        size="320x240",
        bframes=False,
    )


def clip(
    source: Path,
    start: str,
    end: str,
    *,
    mode: Mode = "file",
    clip_id: int = 1,
    version: int = 1,
    source_input: str | None = None,
) -> ClipRequest:
    """A request for ``[start, end)`` of a local file; identity from its mtime and size."""
    st = source.stat()
    return ClipRequest(
        clip_id=clip_id,
        version=version,
        source_input=source_input or f"file:{source}",
        source_identity=f"{st.st_mtime_ns:x}-{st.st_size:x}",
        start=Decimal(start),
        end=Decimal(end),
        mode=mode,
    )


def listing(directory: Path) -> list[str]:
    """Sorted names of the entries in ``directory`` (a sync helper for async tests)."""
    return sorted(p.name for p in directory.iterdir())


def _proc_stat(pid: str) -> tuple[str, str, int, int] | None:
    """(comm, state, ppid, pgid) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm is in parentheses and may itself contain spaces or parentheses.
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return comm, fields[0], int(fields[1]), int(fields[2])


def ffmpeg_children() -> list[int]:
    """PIDs of this process's children whose name contains "ffmpeg" (zombies included)."""
    me = os.getpid()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        stat = _proc_stat(pid)
        if stat is not None and stat[2] == me and "ffmpeg" in stat[0]:
            found.append(int(pid))
    return found


def group_members(pgid: int) -> list[int]:
    """PIDs of the live (non-zombie) processes in process group ``pgid``.

    Zombies are left out: a killed group's grandchildren are reparented to
    PID 1, which reaps them on its own schedule, not ours.
    """
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            stat = _proc_stat(pid)
            if stat is not None and stat[3] == pgid and stat[1] != "Z":
                found.append(int(pid))
    return found


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    stat = _proc_stat(str(pid))
    return stat is not None and stat[1] != "Z"


async def eventually(predicate: Callable[[], bool], timeout_s: float = 2.0) -> float:
    """Wait until ``predicate()`` holds; return how long it took, or fail after ``timeout_s``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def wrapper_script(tmp_path: Path, ffmpeg: str) -> Callable[[str, str], str]:
    """Write an executable ``<name>`` shell script wrapping the real ffmpeg (``$REAL``)."""

    def write(name: str, body: str) -> str:
        path = tmp_path / "bin" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(f'#!/bin/sh\nREAL="{ffmpeg}"\n{body}\n')
        path.chmod(0o755)
        return str(path)

    return write


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
async def make_pool(ffmpeg: str, cache_dir: Path) -> AsyncIterator[MakePool]:
    """Build and start pools; on teardown close them and check no ffmpeg outlived them."""
    pools: list[ClipPool] = []

    async def make(**overrides: Any) -> ClipPool:
        settings: dict[str, Any] = {
            "max_processes": 4,
            "queue_timeout_s": 10.0,
            "run_timeout_s": 30.0,
            "cache_max_bytes": 1 << 30,
            "cache_in_use_grace_s": 0.0,
        }
        settings.update(overrides)
        binary = settings.pop("ffmpeg", ffmpeg)
        directory = settings.pop("cache_dir", cache_dir)
        pool = ClipPool(binary, directory, **settings)
        await pool.start()
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()
        assert pool.status().pids == ()
    await eventually(lambda: not ffmpeg_children(), 2.0)


@pytest.fixture
def no_ffmpeg_children() -> Iterator[None]:
    """Fail a pure test that leaves an ffmpeg child behind."""
    yield
    assert ffmpeg_children() == []
