"""Workers on a bad day and beside requests: a killed worker's job is retried, whole;
warm work in a server yields its slots to requests; exports from the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import Databases, S3Server
from tests.fleet.conftest import Wrapper
from tests.mediacheck import decoded_frames
from tests.servers import (
    ServerFactory,
    ffmpeg_children,
    json_lines,
    register,
    scrape,
    start_worker,
    value,
    wait_for,
)


def test_a_job_whose_worker_was_killed_is_retried_and_no_partial_object_is_seen(
    databases: Databases, s3_server: S3Server, session_dir: Path, sample_video: Path,
    tmp_path: Path, wrapper_script: Wrapper,
) -> None:  # fmt: skip
    dsn = databases.create()
    s3 = s3_server.client()
    s3.create_bucket(Bucket="killed")
    env = {
        **s3_server.env,
        "DATABASE_URL": dsn,
        "ORIGIN_CLIP_STORE": "s3://killed/store",
        "ORIGIN_WORKER_HEARTBEAT_S": "1",
        "ORIGIN_MAINTENANCE_EVERY_S": "2",
        "ORIGIN_CACHE_MIN_FREE_BYTES": "0",
    }
    slow = wrapper_script("slow-ffmpeg", 'sleep 30\nexec "$REAL" "$@"')
    doomed = start_worker(tmp_path / "doomed", {**env, "ORIGIN_FFMPEG": slow})
    try:
        # 5 s is mid-GOP (keyframes every 2 s): the smart cut re-encodes a head with ffmpeg.
        clips = register(dsn, sample_video, "--cuts", "5,9", env=env)["clips"]
        wait_for(lambda: ffmpeg_children(doomed.process.pid), 30, "the worker to start a cut")
        stuck = ffmpeg_children(doomed.process.pid)
    finally:
        doomed.stop(signal.SIGKILL)
    for group in stuck:  # nothing reaps an orphaned group once its parent is dead
        os.killpg(group, signal.SIGKILL)

    seen: dict[str, set[int]] = {}
    stop_watching = threading.Event()

    def watch() -> None:
        while not stop_watching.is_set():
            listing = s3.list_objects_v2(Bucket="killed", Prefix="store/")
            for item in listing.get("Contents", ()):
                seen.setdefault(item["Key"], set()).add(item["Size"])

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        rescuer = start_worker(tmp_path / "rescuer", env)
        try:
            wait_for(
                lambda: all(any(f"/c{c['id']}-v1-" in key for key in seen) for c in clips), 60,
                "the retried jobs to store every clip",
            )  # fmt: skip
        finally:
            rescuer.stop()
    finally:
        stop_watching.set()
        watcher.join()
    assert "job_retried" in rescuer.log()
    for key, sizes in seen.items():
        assert len(sizes) == 1, f"{key} was seen with sizes {sizes}"
        assert not key.endswith(".tmp")
    databases.drop(dsn)


def test_warm_jobs_in_a_server_yield_every_slot_to_requests(
    database_url: str, server_factory: ServerFactory, sample_video: Path,
    wrapper_script: Wrapper,
) -> None:  # fmt: skip
    # One slot, no queue: without yielding, any request meeting a warm run gets a 429.
    slowish = wrapper_script("slowish-ffmpeg", 'sleep 0.5\nexec "$REAL" "$@"')
    server = server_factory(
        database_url, ORIGIN_WORKER="inline", ORIGIN_MAX_PROCESSES="1",
        ORIGIN_QUEUE_TIMEOUT_MS="0", ORIGIN_FFMPEG=slowish, ORIGIN_WORKER_CONCURRENCY="1",
        ORIGIN_CACHE_MIN_FREE_BYTES="0",
    )  # fmt: skip
    home = Path(server.log_path).parent
    cuts = ",".join(str(1 + 2 * i) for i in range(14))  # every clip starts mid-GOP
    clips = register(database_url, sample_video, "--cuts", cuts,
                     env={"ORIGIN_CLIP_STORE": str(home / "store")})["clips"]  # fmt: skip
    statuses = []
    with server.client() as http:
        wait_for(lambda: value(scrape(http), "origin_ffmpeg_background_active") == 1,
                 30, "a warm run holding the slot")  # fmt: skip
        for clip in reversed(clips[-5:]):  # the warm jobs go in order: these come last
            statuses.append(http.get(clip["url"]).status_code)
        assert http.get("/readyz").status_code == 200  # a busy queue is no reason to go unready
        wait_for(
            lambda: value(scrape(http), "origin_jobs_total", queue="warm", outcome="done")
            + value(scrape(http), "origin_jobs_total", queue="warm", outcome="skipped")
            == len(clips),
            120, "every warm job to finish",
        )  # fmt: skip
        samples = scrape(http)
    assert statuses == [200] * 5
    assert value(samples, "origin_pool_rejections_total") == 0
    assert value(samples, "origin_ffmpeg_preemptions_total") >= 1
    assert value(samples, "origin_warm_yields_total") >= 1
    assert value(samples, "origin_ffmpeg_runs_total", mode="smart", outcome="preempted") >= 1
    stored = list((home / "store" / "clips").iterdir())
    assert len(stored) == len(clips)


def test_the_cli_exports_a_clip_to_a_directory_and_waits_for_it(
    database_url: str, server_factory: ServerFactory, sample_video: Path, ffmpeg: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    server = server_factory(database_url, ORIGIN_WORKER="inline")
    clip = register(database_url, sample_video, "--cuts", "4.5,8")["clips"][1]
    target = tmp_path / "exports"
    result = subprocess.run(
        [sys.executable, "-m", "origin", "clips", "export", str(clip["id"]), "--to", str(target)],
        env={"DATABASE_URL": database_url, "PATH": os.environ["PATH"],
             "ORIGIN_HOME": str(tmp_path / "cli-home")},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    file = target / "sample_4.5-8.mp4"
    assert f"export 1: {file}" in result.stdout
    assert "export 1: done" in result.stderr  # the progress line
    assert len(decoded_frames(ffmpeg, file)) == 105
    assert [p.name for p in target.iterdir()] == [file.name]
    with server.client() as http:
        shown = http.get("/api/exports/1").json()
    assert shown["status"] == "done"
    assert shown["location"] == str(file)
    assert shown["download_url"] is None  # not in the store: it went where it was sent


def test_export_errors_are_clear(
    database_url: str, server_factory: ServerFactory, sample_video: Path
) -> None:
    server = server_factory(database_url, ORIGIN_ADMIN_TOKEN="secret")
    register(database_url, sample_video)
    with server.client() as http:
        assert http.post("/api/clips/1/export").status_code == 401
        auth = {"Authorization": "Bearer secret"}
        assert http.post("/api/clips/999/export", headers=auth).status_code == 404
        assert http.get("/api/exports/999", headers=auth).status_code == 404
        assert http.get("/api/exports/x", headers=auth).status_code == 400
        assert http.get("/api/exports/1/download").status_code in (403, 404)
    result = subprocess.run(
        [sys.executable, "-m", "origin", "clips", "export", "999", "--no-wait"],
        env={"DATABASE_URL": database_url, "PATH": os.environ["PATH"]},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "origin: error: no clip with id 999"


def test_warm_jobs_fetch_each_new_clip_through_the_warm_url_base(
    database_url: str, server_factory: ServerFactory, sample_video: Path, tmp_path: Path
) -> None:
    # The server stands in for the CDN: the edge asks the origin, which has
    # the clip in the store already.
    env = {"ORIGIN_CLIP_STORE": str(tmp_path / "store"), "ORIGIN_CACHE_MIN_FREE_BYTES": "0"}
    edge = server_factory(database_url, **env)
    worker = start_worker(tmp_path / "worker", {"DATABASE_URL": database_url, **env,
                                                "ORIGIN_WARM_URL_BASE": edge.base_url})  # fmt: skip
    try:
        clips = register(database_url, sample_video, "--cuts", "7", env=env)["clips"]
        paths = {c["url"] for c in clips}

        def fetched() -> list[dict[str, object]]:
            return [line for line in json_lines(edge) if line.get("path") in paths]

        wait_for(lambda: len(fetched()) == len(clips), 60, "a request per clip at the edge")
    finally:
        worker.stop()
    assert {line["status"] for line in fetched()} == {200}
    assert {line["cache"] for line in fetched()} == {"store"}
    assert "warm_cdn" in worker.log()


def test_the_maintenance_job_keeps_the_store_under_its_cap(
    database_url: str, server_factory: ServerFactory, sample_video: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    env = {"ORIGIN_CLIP_STORE": str(store), "ORIGIN_CACHE_MIN_FREE_BYTES": "0"}
    server = server_factory(database_url, ORIGIN_WORKER="inline", ORIGIN_STORE_MAX_BYTES="1",
                            ORIGIN_MAINTENANCE_EVERY_S="1", **env)  # fmt: skip
    clips = register(database_url, sample_video, "--cuts", "10,20", env=env)["clips"]
    with server.client() as http:
        wait_for(lambda: value(scrape(http), "origin_jobs_total", queue="warm", outcome="done")
                 == len(clips), 60, "every clip warmed")  # fmt: skip
        wait_for(lambda: not list((store / "clips").iterdir()), 30,
                 "the maintenance job to evict down to the 1-byte cap")  # fmt: skip
        # The replica's own cache is not the store's: it still answers from disk.
        before = scrape(http)
        assert http.get(clips[0]["url"]).status_code == 200
        assert value(scrape(http), "origin_cache_hits_total") > value(
            before, "origin_cache_hits_total"
        )
