"""Metrics, pool status, structured logs and readiness, through a real server."""

from __future__ import annotations

import concurrent.futures
import shutil
import time
from pathlib import Path

import pytest

from origin.signing import sign_path
from tests.conftest import StandaloneDatabase
from tests.reliability.test_processes import make_wrapper
from tests.servers import ServerFactory, delta, json_lines, register, scrape, value, wait_for


def test_counters_move_by_the_right_amounts(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    clips = register(database_url, sample_video, "--cuts", "5.5,12.25,20")["clips"]
    wrapper, _ = make_wrapper(session_dir / "metrics-ffmpeg", ffmpeg, "-readrate", "10")
    # Edit-list precision: every clip is one ffmpeg run with real keyframe leakage
    # (tests/smartcut checks the smart cut's metrics).
    server = server_factory(
        database_url, ORIGIN_FFMPEG=str(wrapper), ORIGIN_MAX_PROCESSES="1",
        ORIGIN_QUEUE_TIMEOUT_MS="0", ORIGIN_PRECISION="editlist",
    )  # fmt: skip
    with server.client() as http:
        start = scrape(http)
        assert value(start, "origin_ffmpeg_max") == 1

        # One cold request, then the same clip warm.
        assert http.get(clips[1]["url"]).status_code == 200
        assert http.get(clips[1]["url"]).status_code == 200
        warm = scrape(http)
        assert delta(start, warm, "origin_cache_misses_total") == 1
        assert delta(start, warm, "origin_cache_hits_total") == 1
        assert delta(start, warm, "origin_ffmpeg_runs_total", mode="file", outcome="ok") == 1
        assert delta(start, warm, "origin_ffmpeg_startup_seconds_count", mode="file") == 1
        assert delta(start, warm, "origin_ttfb_seconds_count", cache="miss") == 1
        assert delta(start, warm, "origin_ttfb_seconds_count", cache="hit") == 1
        # Clip 2 starts at 5.5 s; the keyframe before it is at 4 s.
        assert delta(start, warm, "origin_keyframe_leakage_seconds_count", mode="file") == 1
        assert delta(start, warm, "origin_keyframe_leakage_seconds_sum", mode="file") == (
            pytest.approx(1.5)
        )
        assert delta(start, warm, "origin_keyframe_leakage_bytes_total", mode="file") > 0
        route = "/videos/clips/{clip_id}/stream/{version}"
        assert delta(start, warm, "origin_request_seconds_count", route=route, status="200") == 2
        assert delta(start, warm, "origin_response_bytes_total", route=route) > 0
        assert value(warm, "origin_cache_files") == 1
        assert value(warm, "origin_cache_bytes") > 0
        assert value(warm, "origin_cache_free_disk_bytes") > 0

    # Five concurrent requests for one cold clip: one run, four coalesced waits.
    def fetch(url: str) -> int:
        with server.client() as client:
            return client.get(url).status_code

    with concurrent.futures.ThreadPoolExecutor(5) as executor:
        assert list(executor.map(fetch, [clips[2]["url"]] * 5)) == [200] * 5
    with server.client() as http:
        coalesced = scrape(http)
    assert delta(warm, coalesced, "origin_ffmpeg_runs_total", mode="file", outcome="ok") == 1
    assert delta(warm, coalesced, "origin_cache_coalesced_waits_total") == 4

    # One slot, two distinct cold clips at once: one of them is a 429.
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        statuses = sorted(executor.map(fetch, [clips[0]["url"], clips[3]["url"]]))
    assert statuses == [200, 429]
    with server.client() as http:
        rejected = scrape(http)
    assert delta(coalesced, rejected, "origin_pool_rejections_total") == 1
    assert (
        delta(coalesced, rejected, "origin_request_seconds_count", route=route, status="429") == 1
    )
    assert value(rejected, "origin_ffmpeg_active") == 0


def test_pool_status(database_url: str, server_factory: ServerFactory) -> None:
    server = server_factory(database_url, ORIGIN_MAX_PROCESSES="4")
    with server.client() as http:
        # Queue depth is read from PostgreSQL in the background, right after start-up.
        wait_for(lambda: http.get("/status/pool").json()["jobs"], 10, "the first queue depth")
        status = http.get("/status/pool")
    assert status.status_code == 200
    assert status.headers["cache-control"] == "no-store"
    assert status.json() == {
        "active_processes": 0,
        "max_processes": 4,
        "utilization_percent": 0.0,
        "waiting": 0,
        "background": {"active_processes": 0, "waiting": 0},
        "jobs": {
            f"{queue}_{state}": 0
            for queue in ("warm", "export", "maintenance")
            for state in ("todo", "doing")
        },
        "memory_usage": {"total_memory_mb": 0.0, "process_count": 0},
    }


def test_json_logs_one_line_per_run_request_ids_and_no_secrets(
    database_url: str, sample_video: Path, server_factory: ServerFactory
) -> None:
    clips = register(database_url, sample_video, "--cuts", "5.5")["clips"]
    server = server_factory(
        database_url, ORIGIN_SIGNING_KEY="top-secret-key", ORIGIN_PRECISION="editlist"
    )
    url = clips[1]["url"]
    signed = sign_path(url, b"top-secret-key", 300)
    sig = signed.rsplit("sig=", 1)[1]
    with server.client() as http:
        answer = http.get(signed, headers={"X-Request-ID": "req-42"})
        assert answer.status_code == 200
        assert answer.headers["x-request-id"] == "req-42"
        generated = http.get("/healthz").headers["x-request-id"]
        assert len(generated) == 32
        bad_id = http.get("/healthz", headers={"X-Request-ID": "x" * 500})
        assert bad_id.headers["x-request-id"] != "x" * 500
        assert http.get(url).status_code == 403  # unsigned: refused
        assert http.get(signed.replace(sig, sig[::-1])).status_code == 403
    server.stop()

    lines = json_lines(server)
    runs = [line for line in lines if line["event"] == "ffmpeg_run"]
    assert len(runs) == 1
    [run] = runs
    for field in (
        "clip_id", "version", "mode", "start", "end", "keyframe_start", "leakage_s",
        "startup_s", "run_s", "bytes", "exit_status", "outcome", "request_id", "timestamp",
        "level",
    ):  # fmt: skip
        assert field in run, field
    assert (run["clip_id"], run["version"], run["mode"]) == (clips[1]["id"], 1, "file")
    assert (run["start"], run["end"], run["keyframe_start"]) == (5.5, 30.0, 4.0)
    assert run["leakage_s"] == pytest.approx(1.5)
    assert run["outcome"] == "ok"
    assert run["exit_status"] == 0
    assert run["request_id"] == "req-42"
    requests = [line for line in lines if line["event"] == "request"]
    assert any(r["request_id"] == "req-42" and r["status"] == 200 for r in requests)
    assert all("?" not in r["path"] for r in requests)
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines)

    text = server.log()
    assert sig not in text
    assert sig[::-1] not in text
    assert "top-secret-key" not in text
    assert "X-Amz-Signature=" not in text


def test_readyz_follows_the_database_and_healthz_stays_up(
    standalone_database: StandaloneDatabase, server_factory: ServerFactory
) -> None:
    server = server_factory(standalone_database.dsn)
    with server.client() as http:
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.headers["cache-control"] == "no-store"

        standalone_database.stop()
        down = http.get("/readyz")
        assert down.status_code == 503
        assert down.headers["cache-control"] == "no-store"
        assert any(r.startswith("database") for r in down.json()["reasons"])
        health = http.get("/healthz")
        assert health.status_code == 200
        assert health.headers["cache-control"] == "no-store"

        standalone_database.start()
        deadline = time.monotonic() + 15
        while (again := http.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, again.text
            time.sleep(0.2)
        assert http.get("/healthz").status_code == 200


def test_readyz_reports_a_broken_cache_directory(
    database_url: str, server_factory: ServerFactory, session_dir: Path
) -> None:
    cache = session_dir / "vanishing-cache"
    server = server_factory(database_url, ORIGIN_CACHE_DIR=str(cache))
    with server.client() as http:
        assert http.get("/readyz").status_code == 200
        # Something replaced the cache directory with a file (works as root too,
        # where permission bits would not stop writes).
        shutil.rmtree(cache)
        cache.write_text("not a directory")
        answer = http.get("/readyz")
        cache.unlink()
    assert answer.status_code == 503
    assert "cache: directory is not writable" in answer.json()["reasons"]


def test_start_up_ends_by_freezing_the_heap_out_of_the_collectors_way(
    database_url: str, server_factory: ServerFactory
) -> None:
    """The last start-up stage (origin/heap.py) freezes the warm heap, then the server serves on."""
    server = server_factory(database_url)

    def settled() -> list[dict[str, object]]:
        return [line for line in json_lines(server) if line["event"] == "heap_settled"]

    wait_for(lambda: bool(settled()), 30, "the heap_settled log line")
    [line] = settled()
    # The modules, templates and libraries of a warm server: tens of thousands of objects.
    assert isinstance(line["frozen_objects"], int)
    assert line["frozen_objects"] > 20_000
    with server.client() as http:
        assert http.get("/healthz").status_code == 200
