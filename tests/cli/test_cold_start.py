"""Fast cold start: what ``origin serve`` does before it listens, and what it leaves for later.

Timings belong to the benchmark (bench/cold_start.py); these tests check,
deterministically, that start-up does not load what it defers until the
server listens (origin/startup.py) or until a request needs it, and that a
missing ffmpeg, now found after the server listens, still stops it with a
clear error. No database is needed: the server's pool connects on demand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Loaded after the server listens (procrastinate and psycopg with the job
#: queue, imageio-ffmpeg with the ffmpeg check, boto3 with an S3 store's
#: client) or by the first request that needs them; never before.
DEFERRED = (
    "boto3", "botocore", "s3transfer", "procrastinate", "psycopg", "psycopg_pool",
    "imageio_ffmpeg", "httpx", "tqdm", "sse_starlette", "websockets",
)  # fmt: skip

NOWHERE = "postgresql://origin:x@127.0.0.1:1/origin"  # refused: nothing may connect first

#: The imports of ``origin serve`` (origin.cli, then origin.server in cmd_serve),
#: the app, uvicorn's set-up and the app's lifespan: what runs before uvicorn listens.
STARTUP = """
import asyncio, json, sys
import origin.cli, origin.server
from origin.app import create_app
from origin.settings import Settings

settings = Settings.from_env()
app = create_app(settings)
origin.server.uvicorn_config(app, settings, host="127.0.0.1", port=0).load()

async def started() -> list[str]:
    async with app.router.lifespan_context(app):
        return sorted({name.split(".")[0] for name in sys.modules})

print(json.dumps(asyncio.run(started())))
"""


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORIGIN_", "DATABASE_"))}
    env.update(ORIGIN_HOME=str(tmp_path), DATABASE_URL=NOWHERE, **settings)
    return env


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"ORIGIN_CLIP_STORE": "none"}, id="no-store"),
        pytest.param({}, id="directory-store"),
        pytest.param({"ORIGIN_WORKER": "inline"}, id="inline-worker"),
        pytest.param(
            {
                "ORIGIN_CLIP_STORE": "s3://bucket/clips",
                "ORIGIN_S3_ENDPOINT_URL": "http://127.0.0.1:1",
            },
            id="s3-store",
        ),
    ],
)
def test_startup_loads_nothing_it_defers(tmp_path: Path, settings: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", STARTUP], env=_env(tmp_path, **settings),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "starlette" in loaded  # the check itself works
    assert loaded.isdisjoint(DEFERRED), sorted(loaded & set(DEFERRED))


def test_a_missing_ffmpeg_stops_the_server_with_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "origin", "serve", "--port", "0"],
        env=_env(tmp_path, ORIGIN_FFMPEG="/no/such/ffmpeg", ORIGIN_CLIP_STORE="none"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "origin: error: ORIGIN_FFMPEG=/no/such/ffmpeg does not run: not found"
    )
    logged = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    failed = [line for line in logged if line["event"] == "startup_failed"]
    assert [(line["part"], line["fatal"]) for line in failed] == [("ffmpeg", True)]
