"""Fleet-wide single flight: two replicas asked for the same cold clip at once cut it once."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx

from tests.fleet.conftest import Wrapper
from tests.servers import ServerFactory, register, scrape, value


def test_two_replicas_asked_at_once_cut_a_clip_once(
    database_url: str, server_factory: ServerFactory, sample_video: Path, tmp_path: Path,
    wrapper_script: Wrapper,
) -> None:  # fmt: skip
    # A second of start-up makes the two requests overlap whatever the scheduling.
    slow = wrapper_script("slow-ffmpeg", 'sleep 1\nexec "$REAL" "$@"')
    env = {"ORIGIN_CLIP_STORE": str(tmp_path / "store"), "ORIGIN_FFMPEG": slow,
           "ORIGIN_CACHE_MIN_FREE_BYTES": "0"}  # fmt: skip
    replicas = [server_factory(database_url, **env) for _ in range(2)]
    clip = register(database_url, sample_video, "--cuts", "5,9",
                    env={"ORIGIN_CLIP_STORE": "none"})["clips"][1]  # fmt: skip
    with concurrent.futures.ThreadPoolExecutor(2) as threads:
        answers = list(threads.map(
            lambda server: httpx.get(server.base_url + clip["url"], timeout=60), replicas
        ))  # fmt: skip
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].content == answers[1].content
    samples = []
    for server in replicas:
        with server.client() as http:
            samples.append(scrape(http))
    cuts = [value(s, "origin_clip_cuts_total", form="smart") for s in samples]
    waited = [value(s, "origin_fleet_waits_total", outcome="stored") for s in samples]
    assert sorted(cuts) == [0, 1]
    assert sorted(waited) == [0, 1]
    assert sum(value(s, "origin_store_hits_total") for s in samples) == 1
