"""``origin demo`` (what ``make run`` starts): warm jobs finish in its console, first plays hit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.servers import free_port, wait_for


def test_the_demo_warms_every_clip_and_its_first_plays_are_hits(
    database_url: str, sample_video: Path, tmp_path: Path
) -> None:
    port = free_port()
    console = tmp_path / "console.log"
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": database_url,
           "ORIGIN_HOME": str(tmp_path / "home"), "ORIGIN_CACHE_MIN_FREE_BYTES": "0"}  # fmt: skip
    with console.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "origin", "demo", "--port", str(port),
             "--source", str(sample_video)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: "warming 3 clips" in console.read_text(), 60, "the demo to set up")
        wait_for(lambda: len(re.findall(r"warm_done .*clip_id=", console.read_text())) == 3,
                 60, "a warm_done line per clip in the console")  # fmt: skip
        text = console.read_text()
        clip_url = re.search(r"curl -I (\S+)", text)
        assert clip_url is not None, text
        response = httpx.get(clip_url.group(1), timeout=30)
        assert response.status_code == 200
        wait_for(lambda: "cache=hit" in console.read_text(), 10, "the request line")
        [line] = [x for x in console.read_text().splitlines() if "path=/videos/clips/" in x]
        assert "cache=hit" in line
        assert "status=200" in line
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=30)
