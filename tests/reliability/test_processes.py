"""Saturation, coalescing, disconnects, crashes and shutdown, through a real server.

An ffmpeg wrapper logs every cutting run and can slow ffmpeg down to real
time (``-re``), so that "a run is in progress" is a fact, not a race. The
servers cut with the edit list, where every clip is one ffmpeg run; a smart
cut of a clip that starts on a keyframe runs no ffmpeg at all
(tests/smartcut covers its runs).
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import Server, ServerFactory, ffmpeg_children, register


@pytest.fixture
def server_factory(server_factory: ServerFactory) -> ServerFactory:
    """The suite's server factory, with servers that cut with the edit list."""

    def factory(database_url: str, home: Path | None = None, **env: str) -> Server:
        return server_factory(database_url, home, **{"ORIGIN_PRECISION": "editlist", **env})

    return factory


def make_wrapper(folder: Path, ffmpeg: str, *extra: str) -> tuple[Path, Path]:
    """An ffmpeg that appends a line to a log per cutting run; ``exec`` keeps the PID."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "runs.log"
    script = folder / "ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" -i "*) echo run >> "{log}";; esac\n'
        f'exec "{ffmpeg}" {" ".join(extra)} "$@"\n'
    )
    script.chmod(0o755)
    return script, log


def runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def wait_for_no_ffmpeg(server: Server, within_s: float) -> float:
    """Seconds until the server has no ffmpeg child left; fails after ``within_s``."""
    started = time.monotonic()
    while ffmpeg_children(server.process.pid):
        if time.monotonic() - started > within_s:
            pytest.fail(f"ffmpeg still running after {within_s} s")
        time.sleep(0.02)
    return time.monotonic() - started


def _cutting(pid: int) -> bool:
    """True for a cutting run (it reads a source, ``-i``), as the wrapper counts runs."""
    try:
        return b"-i" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False


def wait_for_ffmpeg(server: Server, within_s: float = 10) -> list[int]:
    """PIDs of the server's cutting ffmpeg runs, once there is at least one.

    Not its ``ffmpeg -version`` check, which a server runs once it listens,
    maybe right as a test's first request comes in.
    """
    deadline = time.monotonic() + within_s
    while not (children := [p for p in ffmpeg_children(server.process.pid) if _cutting(p)]):
        assert time.monotonic() < deadline, "ffmpeg never started"
        time.sleep(0.02)
    return children


def cached_clips(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*.mp4"))


def test_saturated_pool_answers_429_never_5xx(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    clips = register(database_url, sample_video, "--every", "2.5")["clips"]
    assert len(clips) == 12
    wrapper, log = make_wrapper(session_dir / "slow-ffmpeg", ffmpeg, "-readrate", "10")
    server = server_factory(
        database_url, ORIGIN_FFMPEG=str(wrapper), ORIGIN_MAX_PROCESSES="2",
        ORIGIN_QUEUE_TIMEOUT_MS="0",
    )  # fmt: skip

    def fetch(url: str) -> httpx.Response:
        with server.client() as http:
            return http.get(url)

    with concurrent.futures.ThreadPoolExecutor(12) as executor:
        answers = list(executor.map(fetch, [c["url"] for c in clips]))
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 206, 429}, statuses
    rejected = [a for a in answers if a.status_code == 429]
    assert rejected, statuses
    for answer in rejected:
        assert answer.headers["cache-control"] == "no-store"
        assert int(answer.headers["retry-after"]) >= 1
        assert set(answer.json()) == {"error"}
    assert runs(log) == statuses.count(200)
    assert ffmpeg_children(server.process.pid) == []

    # Once the burst is over the rejected clips are served normally.
    with server.client() as http:
        for answer in rejected:
            assert http.get(str(answer.url)).status_code == 200


def test_thirty_requests_for_one_cold_clip_share_one_run(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    clip = register(database_url, sample_video)["clips"][1]
    wrapper, log = make_wrapper(session_dir / "counting-ffmpeg", ffmpeg, "-readrate", "10")
    server = server_factory(database_url, ORIGIN_FFMPEG=str(wrapper), ORIGIN_MAX_PROCESSES="2")

    def fetch(_: int) -> httpx.Response:
        with server.client() as http:
            return http.get(clip["url"])

    with concurrent.futures.ThreadPoolExecutor(30) as executor:
        answers = list(executor.map(fetch, range(30)))
    assert [a.status_code for a in answers] == [200] * 30
    assert len({a.content for a in answers}) == 1
    assert runs(log) == 1


def test_pipe_client_that_leaves_stops_its_ffmpeg(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    clip = register(database_url, sample_video, "--every", "30")["clips"][0]
    wrapper, _ = make_wrapper(session_dir / "realtime-ffmpeg", ffmpeg, "-re")
    cache_dir = session_dir / "pipe-leave-cache"
    server = server_factory(
        database_url, ORIGIN_FFMPEG=str(wrapper), ORIGIN_STREAM_MODE="pipe",
        ORIGIN_CACHE_DIR=str(cache_dir),
    )  # fmt: skip
    with server.client() as http, http.stream("GET", clip["url"]) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received >= 100_000:
                break
        # A 30 s clip read at real time: ffmpeg is certainly still cutting.
        assert ffmpeg_children(server.process.pid)
    gone_after = wait_for_no_ffmpeg(server, within_s=2)
    assert gone_after < 2
    assert cached_clips(cache_dir) == []


def test_ffmpeg_killed_mid_stream_fails_the_response_and_caches_nothing(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    clip = register(database_url, sample_video, "--every", "5")["clips"][0]
    wrapper, _ = make_wrapper(session_dir / "realtime-ffmpeg-2", ffmpeg, "-re")
    cache_dir = session_dir / "pipe-kill-cache"
    server = server_factory(
        database_url, ORIGIN_FFMPEG=str(wrapper), ORIGIN_STREAM_MODE="pipe",
        ORIGIN_CACHE_DIR=str(cache_dir),
    )  # fmt: skip
    with server.client() as http:
        with (
            pytest.raises(httpx.RemoteProtocolError),
            http.stream("GET", clip["url"]) as response,
        ):
            chunks = response.iter_bytes()
            next(chunks)
            [pid] = ffmpeg_children(server.process.pid)
            os.kill(pid, signal.SIGKILL)
            for _ in chunks:
                pass
        wait_for_no_ffmpeg(server, within_s=2)
        assert cached_clips(cache_dir) == []
        again = http.get(clip["url"])
    assert again.status_code == 200
    assert again.content[4:8] == b"ftyp"
    assert len(cached_clips(cache_dir)) == 1


def test_ffmpeg_killed_in_file_mode_is_a_500_and_the_next_request_works(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    clip = register(database_url, sample_video, "--every", "5")["clips"][0]
    wrapper, _ = make_wrapper(session_dir / "realtime-ffmpeg-3", ffmpeg, "-re")
    cache_dir = session_dir / "file-kill-cache"
    server = server_factory(
        database_url, ORIGIN_FFMPEG=str(wrapper), ORIGIN_CACHE_DIR=str(cache_dir)
    )

    def fetch() -> httpx.Response:
        with server.client() as http:
            return http.get(clip["url"])

    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        pending = executor.submit(fetch)
        children = wait_for_ffmpeg(server)
        os.kill(children[0], signal.SIGKILL)
        failed = pending.result()
    assert failed.status_code == 500
    assert failed.headers["cache-control"] == "no-store"
    assert set(failed.json()) == {"error"}
    assert cached_clips(cache_dir) == []
    assert list(cache_dir.glob("*.tmp")) == []
    assert fetch().status_code == 200


def test_run_timeout_kills_ffmpeg(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    clip = register(database_url, sample_video, "--every", "10")["clips"][0]
    wrapper, _ = make_wrapper(session_dir / "realtime-ffmpeg-4", ffmpeg, "-re")
    server = server_factory(database_url, ORIGIN_FFMPEG=str(wrapper), ORIGIN_STREAM_TIMEOUT_S="1")
    started = time.monotonic()
    with server.client() as http:
        answer = http.get(clip["url"])
    assert answer.status_code == 500
    assert "too long" in answer.json()["error"]
    assert time.monotonic() - started < 5
    assert ffmpeg_children(server.process.pid) == []


def test_shutdown_kills_what_is_still_running(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    clip = register(database_url, sample_video, "--every", "30")["clips"][0]
    wrapper, _ = make_wrapper(session_dir / "realtime-ffmpeg-5", ffmpeg, "-re")
    cache_dir = session_dir / "shutdown-cache"
    server = server_factory(
        database_url, ORIGIN_FFMPEG=str(wrapper), ORIGIN_CACHE_DIR=str(cache_dir),
        ORIGIN_SHUTDOWN_GRACE_S="1",
    )  # fmt: skip

    def fetch() -> int:
        try:
            with server.client() as http:
                return http.get(clip["url"]).status_code
        except httpx.HTTPError:
            return -1

    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        pending = executor.submit(fetch)
        children = wait_for_ffmpeg(server)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then re-raises SIGTERM so the exit status says why.
        assert server.process.wait(timeout=15) in (0, -signal.SIGTERM)
        assert time.monotonic() - started < 10
        assert pending.result() != 200
    for pid in children:
        assert not Path(f"/proc/{pid}").exists(), "ffmpeg outlived the server"
    assert cached_clips(cache_dir) == []
