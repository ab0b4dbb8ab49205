"""A bad day at the origin, through a real server: the database goes away, the disk fills,
SIGTERM arrives mid-download, sources change under it, twice the load it can cut.

Each test says what the client sees (status, headers, bytes) and what is left
behind (ffmpeg processes, cache files, log lines).
"""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import StandaloneDatabase
from tests.mediacheck import decoded_frames
from tests.reliability.test_processes import make_wrapper, wait_for_ffmpeg, wait_for_no_ffmpeg
from tests.servers import ServerFactory, ffmpeg_children, json_lines, register, scrape, value


def assert_unavailable(answer: httpx.Response) -> None:
    """A 503 a CDN passes on and never stores, telling the client when to retry."""
    assert answer.status_code == 503, answer.text
    assert set(answer.json()) == {"error"}
    assert answer.headers["cache-control"] == "no-store"
    assert int(answer.headers["retry-after"]) >= 1


def thumbnail(clip: dict[str, Any]) -> str:
    """The clip's thumbnail URL (the CLI's clip shape has only the stream URL)."""
    return f"/videos/clips/{clip['id']}/thumbnail/v{clip['version']}.jpg"


def cache_entries(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir()) if cache_dir.exists() else []


def test_database_outage_answers_503_and_cached_clips_keep_playing(
    standalone_database: StandaloneDatabase, sample_video: Path, server_factory: ServerFactory
) -> None:
    dsn = standalone_database.dsn
    added = register(dsn, sample_video, "--every", "2.5")
    clips = added["clips"]
    source_id = added["id"]
    # A 1 s row TTL: by the time the database stops, every row is past it,
    # so the stale-if-error path is what answers, not the freshness window.
    server = server_factory(dsn, ORIGIN_CLIP_ROW_TTL_S="1", ORIGIN_DB_TIMEOUT_S="1")
    warm, cold = clips[0], clips[1]
    with server.client() as http:
        before = http.get(warm["url"])
        assert before.status_code == 200
        first_frame = http.get(thumbnail(warm))
        assert first_frame.status_code == 200
        time.sleep(1.1)

        stop = threading.Event()
        statuses: Counter[int] = Counter()

        def traffic() -> None:
            with server.client() as background:
                for clip in itertools.cycle(clips[:4]):
                    if stop.is_set():
                        return
                    statuses[background.get(clip["url"]).status_code] += 1
                    statuses[background.get("/api/sources").status_code] += 1

        with concurrent.futures.ThreadPoolExecutor(4) as executor:
            running = [executor.submit(traffic) for _ in range(4)]
            standalone_database.stop()
            try:
                again = http.get(warm["url"])
                assert again.status_code == 200
                assert again.content == before.content
                assert again.headers["etag"] == before.headers["etag"]
                assert http.get(thumbnail(warm)).content == first_frame.content
                ranged = http.get(warm["url"], headers={"Range": "bytes=0-99"})
                assert ranged.status_code == 206
                assert ranged.content == before.content[:100]
                # Never read, or not in the cache: nothing can stand in.
                assert_unavailable(http.get(cold["url"]))
                assert_unavailable(http.get(thumbnail(cold)))
                assert_unavailable(http.get("/api/sources"))
                assert_unavailable(http.get(f"/api/sources/{source_id}/clips"))
                assert_unavailable(http.post(f"/api/clips/{cold['id']}/split", json={"at": 3.5}))
                assert http.get("/healthz").status_code == 200
                assert http.get("/readyz").status_code == 503
                time.sleep(1)  # traffic while the database is down
            finally:
                standalone_database.start()
            deadline = time.monotonic() + 15
            while (recovered := http.get(cold["url"])).status_code != 200:
                assert time.monotonic() < deadline, recovered.text
                time.sleep(0.2)
            stop.set()
            for future in running:
                future.result()
        assert http.get(f"/api/sources/{source_id}/clips").status_code == 200
        edit = http.post(f"/api/clips/{cold['id']}/split", json={"at": 3.5})
        assert edit.status_code == 200, edit.text
        samples = scrape(http)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] > 0
    assert value(samples, "origin_db_errors_total", kind="connect") > 0
    lines = json_lines(server)
    assert not [line for line in lines if line["level"] in ("error", "critical")]
    assert not [line for line in lines if line.get("status", 0) >= 500 and line["status"] != 503]


def test_below_the_disk_floor_clips_are_exact_uncached_and_leave_nothing(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    clip = register(database_url, sample_video, "--every", "2.5")["clips"][1]  # mid-GOP start
    roomy = server_factory(database_url, ORIGIN_CACHE_DIR=str(session_dir / "roomy-cache"))
    full_cache = session_dir / "full-cache"
    full = server_factory(
        database_url, ORIGIN_CACHE_DIR=str(full_cache), ORIGIN_CACHE_MIN_FREE_BYTES=str(1 << 62)
    )
    with roomy.client() as http:
        cached = http.get(clip["url"])
    with full.client() as http:
        answers = [http.get(clip["url"]) for _ in range(2)]
        ranged = http.get(clip["url"], headers={"Range": "bytes=100-199"})
        head = http.head(clip["url"])
        jpeg = http.get(thumbnail(clip))
        revalidated = http.get(clip["url"], headers={"If-None-Match": cached.headers["etag"]})
    for answer in answers:
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        # The clip itself (the very bytes a cache holds), not a fragmented stand-in.
        assert answer.content == cached.content
        assert answer.headers["etag"] == cached.headers["etag"]
    assert ranged.status_code == 206
    assert ranged.content == cached.content[100:200]
    assert ranged.headers["cache-control"] == "no-store"
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len(cached.content)
    assert jpeg.status_code == 200
    assert jpeg.headers["cache-control"] == "no-store"
    assert revalidated.status_code == 304
    path = session_dir / "full-cache-clip.mp4"
    path.write_bytes(answers[0].content)
    frames = decoded_frames(ffmpeg, path)
    assert len(frames) == 75  # [2.5, 5.0) at 30 fps
    assert cache_entries(full_cache) == []
    lines = [line for line in json_lines(full) if line["event"] == "request"]
    assert {line["cache"] for line in lines if line["path"] == clip["url"]} >= {"uncached"}


def _download(base_url: str, path: str, received: list[int]) -> None:
    """GET ``path`` and count its body bytes as they arrive, until the server stops."""
    try:
        with (
            httpx.Client(base_url=base_url, timeout=30) as http,
            http.stream("GET", path) as answer,
        ):
            for chunk in answer.iter_raw():
                received[0] += len(chunk)
    except httpx.HTTPError:
        pass  # cut off by the shutdown, as expected


def test_sigterm_with_downloads_in_flight_logs_what_each_client_got(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    clips = register(database_url, sample_video, "--every", "10")["clips"]
    wrapper, _ = make_wrapper(session_dir / "realtime-ffmpeg-sigterm", ffmpeg, "-re")
    cache = session_dir / "sigterm-cache"
    server = server_factory(
        database_url, ORIGIN_FFMPEG=str(wrapper), ORIGIN_STREAM_MODE="pipe",
        ORIGIN_CACHE_DIR=str(cache), ORIGIN_SHUTDOWN_GRACE_S="1",
    )  # fmt: skip

    def request_lines() -> dict[tuple[str, str], dict[str, Any]]:
        lines = json_lines(server)
        return {(x["path"], x["outcome"]): x for x in lines if x["event"] == "request"}

    with server.client() as http:
        # ffmpeg streams at real time: a client that reads a little and leaves.
        with http.stream("GET", clips[1]["url"]) as leaving:
            taken = len(next(leaving.iter_raw()))
        deadline = time.monotonic() + 10
        while (clips[1]["url"], "client_gone") not in request_lines():
            assert time.monotonic() < deadline, "no client_gone line"
            time.sleep(0.05)
    # A stream still being cut when SIGTERM comes.
    streamed = [0]
    streaming = threading.Thread(
        target=_download, args=(server.base_url, clips[0]["url"], streamed)
    )
    streaming.start()
    wait_for_ffmpeg(server)
    deadline = time.monotonic() + 10
    while streamed[0] < 10_000:
        assert time.monotonic() < deadline, "the stream never started"
        time.sleep(0.02)
    children = ffmpeg_children(server.process.pid)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) in (0, -signal.SIGTERM)
    streaming.join(timeout=5)
    for pid in children:
        assert not Path(f"/proc/{pid}").exists(), "ffmpeg outlived the server"
    assert [name for name in cache_entries(cache) if name.endswith(".tmp")] == []

    lines = request_lines()
    stopped = lines[(clips[0]["url"], "shutdown")]
    assert stopped["status"] == 200
    # The stream trickles, so no buffer holds a backlog: what was logged is
    # what the client got.
    assert stopped["bytes"] == streamed[0]
    gone = lines[(clips[1]["url"], "client_gone")]
    assert taken <= gone["bytes"] < 2_000_000


def test_a_source_deleted_or_replaced_is_503_and_never_cached(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    source = session_dir / "media" / "changing.mp4"
    shutil.copy(sample_video, source)
    clips = register(database_url, source, "--every", "10")["clips"]
    cache = session_dir / "changing-cache"
    server = server_factory(database_url, ORIGIN_CACHE_DIR=str(cache))
    with server.client() as http:
        kept = http.get(clips[0]["url"])
        assert kept.status_code == 200
        source.unlink()
        assert_unavailable(http.get(clips[1]["url"]))
        assert_unavailable(http.get(thumbnail(clips[1])))
        # Another file at the same path: its frames are not the ones registered.
        other = session_dir / "media" / "changing-other.mp4"
        shutil.copy(sample_video, other)
        with other.open("ab") as tail:
            tail.write(b"\0" * 1024)
        os.replace(other, source)
        assert_unavailable(http.get(clips[1]["url"]))
        # What was cut from the registered bytes is still exactly that.
        assert http.get(clips[0]["url"]).content == kept.content
    assert len(list(cache.glob("*.mp4"))) == 1
    assert list(cache.glob("*.tmp")) == []


def test_twice_the_load_it_can_cut_answers_only_documented_statuses(
    database_url: str, sample_video: Path, server_factory: ServerFactory
) -> None:
    clips = register(database_url, sample_video, "--every", "2.5")["clips"]
    server = server_factory(database_url, ORIGIN_MAX_PROCESSES="2", ORIGIN_QUEUE_TIMEOUT_MS="50")
    with server.client() as http:
        edited = http.post(f"/api/clips/{clips[-2]['id']}/move-cut", json={"at": 29.2})
        assert edited.status_code == 200, edited.text
        warm = http.get(clips[0]["url"])
        assert warm.status_code == 200
    old_version = clips[-2]["url"]  # now v1 of a clip at v2: 302
    warm_url, etag = clips[0]["url"], warm.headers["etag"]
    cheap: list[tuple[str, str, dict[str, str]]] = [
        ("GET", warm_url, {}),
        ("GET", warm_url, {"Range": "bytes=0-1023"}),
        ("HEAD", warm_url, {}),
        ("GET", warm_url, {"If-None-Match": etag}),
        ("GET", thumbnail(clips[0]), {}),
        ("GET", old_version, {}),
        ("GET", "/videos/clips/999999/stream/v1", {}),
        ("GET", "/videos/clips/abc/stream/v1", {}),
        ("GET", "/videos/clips/1/stream/vx", {}),
        ("GET", warm_url, {"Range": "bytes=999999999-"}),
        ("GET", warm_url, {"Range": "bytes=oops"}),
    ]
    deadline = time.monotonic() + 30
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def count(status: int) -> None:
        with lock:
            statuses[status] += 1

    def reviewer(pair: int) -> None:
        """Moves the cut between two clips and plays both: every play is a cold cut."""
        first = clips[1 + 2 * pair]
        start = float(first["start"])
        with server.client() as client:
            for step in itertools.count():
                if time.monotonic() > deadline:
                    return
                at = round(start + 1 + (step % 7) * 0.43, 3)
                moved = client.post(f"/api/clips/{first['id']}/move-cut", json={"at": at})
                count(moved.status_code)
                for clip in moved.json().get("changed", []):
                    count(client.get(clip["url"]).status_code)
                    count(client.get(clip["thumbnail"]).status_code)

    def cheap_requests() -> None:
        with server.client() as client:
            for method, url, headers in itertools.cycle(cheap):
                if time.monotonic() > deadline:
                    return
                count(client.request(method, url, headers=headers).status_code)

    with concurrent.futures.ThreadPoolExecutor(7) as executor:
        futures = [executor.submit(reviewer, pair) for pair in range(4)]
        futures += [executor.submit(cheap_requests) for _ in range(3)]
        for future in futures:
            future.result()
    assert set(statuses) <= {200, 206, 302, 304, 400, 404, 416, 429}, statuses
    assert statuses[429] > 0, statuses  # it really was overloaded
    assert statuses[200] > 100, statuses
    wait_for_no_ffmpeg(server, within_s=10)
