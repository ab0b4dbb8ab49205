"""Two replicas, one worker, one PostgreSQL and one S3 store (moto): one cut per clip version.

Everything is real: ``origin serve`` twice with separate local caches,
``origin worker`` with its metrics endpoint, the CLI for registration, and
moto's S3 server as the shared store. Waits are bounded polls.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Databases, S3Server
from tests.servers import (
    Server,
    Worker,
    delta,
    register,
    scrape,
    start_server,
    start_worker,
    value,
    wait_for,
)

STORE_PREFIX = "store"


@dataclass
class Fleet:
    dsn: str
    env: dict[str, str]
    s3: Any  # boto3 client
    bucket: str
    a: Server
    b: Server
    worker: Worker
    clips: list[dict[str, Any]]

    def stored(self) -> dict[str, int]:
        """Clip objects in the store: file name → size."""
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{STORE_PREFIX}/clips/")
        return {item["Key"].rsplit("/", 1)[1]: item["Size"] for item in listing.get("Contents", ())}

    def has_version(self, clip_id: int, version: int) -> bool:
        return any(name.startswith(f"c{clip_id}-v{version}-") for name in self.stored())

    def object_bytes(self, clip_id: int, version: int) -> bytes:
        [name] = [n for n in self.stored() if n.startswith(f"c{clip_id}-v{version}-")]
        response = self.s3.get_object(Bucket=self.bucket, Key=f"{STORE_PREFIX}/clips/{name}")
        data: bytes = response["Body"].read()
        return data


def cuts(samples: dict[Any, float]) -> float:
    return sum(v for (name, _), v in samples.items() if name == "origin_clip_cuts_total")


@pytest.fixture(scope="module")
def fleet(
    databases: Databases, s3_server: S3Server, session_dir: Path, sample_video: Path
) -> Iterator[Fleet]:
    dsn = databases.create()
    s3 = s3_server.client()
    bucket = "fleet"
    s3.create_bucket(Bucket=bucket)
    env = {
        **s3_server.env,
        "DATABASE_URL": dsn,
        "ORIGIN_CLIP_STORE": f"s3://{bucket}/{STORE_PREFIX}",
        "ORIGIN_WORKER_HEARTBEAT_S": "1",
        "ORIGIN_MAINTENANCE_EVERY_S": "2",
        "ORIGIN_STORE_GRACE_S": "3",
        "ORIGIN_CACHE_MIN_FREE_BYTES": "0",
    }
    home = session_dir / "fleet"
    a = start_server(home / "a", env)
    b = start_server(home / "b", env)
    worker = start_worker(home / "worker", env)
    try:
        added = register(dsn, sample_video, "--every", "5", env=env)
        yield Fleet(dsn, env, s3, bucket, a, b, worker, added["clips"])
    finally:
        for process in (a, b, worker):
            process.stop()
        databases.drop(dsn)


def test_registration_warms_every_clip_exactly_once_by_the_worker(fleet: Fleet) -> None:
    wait_for(
        lambda: all(fleet.has_version(c["id"], c["version"]) for c in fleet.clips),
        60, "every clip of the new source in the store",
    )  # fmt: skip
    samples = fleet.worker.metrics()
    assert value(samples, "origin_jobs_total", queue="warm", outcome="done") == len(fleet.clips)
    assert cuts(samples) == len(fleet.clips)
    for replica in (fleet.a, fleet.b):
        with replica.client() as http:
            assert cuts(scrape(http)) == 0


def test_a_replica_serves_a_stored_clip_without_cutting(fleet: Fleet) -> None:
    clip = fleet.clips[1]
    wait_for(lambda: fleet.has_version(clip["id"], 1), 60, "the clip in the store")
    path = f"/videos/clips/{clip['id']}/stream/v1"
    answers = []
    for replica in (fleet.a, fleet.b):
        with replica.client() as http:
            before = scrape(http)
            response = http.get(path)
            after = scrape(http)
        assert response.status_code == 200
        assert delta(before, after, "origin_store_hits_total") == 1
        assert cuts(after) == 0
        answers.append(response)
    assert answers[0].content == answers[1].content == fleet.object_bytes(clip["id"], 1)
    assert answers[0].headers["etag"] == answers[1].headers["etag"]
    assert "immutable" in answers[1].headers["cache-control"]


def test_an_edit_puts_the_new_versions_in_the_store_and_drops_the_old_ones(
    fleet: Fleet,
) -> None:
    first, second = fleet.clips[2], fleet.clips[3]
    wait_for(lambda: fleet.has_version(first["id"], 1) and fleet.has_version(second["id"], 1),
             60, "the original versions in the store")  # fmt: skip
    with fleet.a.client() as http:
        edit = http.post(f"/api/clips/{first['id']}/move-cut", json={"at": first["end"] + 1.5})
    assert edit.status_code == 200, edit.text
    versions = {c["id"]: c["version"] for c in edit.json()["changed"]}
    assert versions == {first["id"]: 2, second["id"]: 2}
    took = wait_for(lambda: all(fleet.has_version(i, v) for i, v in versions.items()),
                    60, "the edited clips' new versions in the store")  # fmt: skip
    with fleet.b.client() as http:
        before = scrape(http)
        response = http.get(f"/videos/clips/{first['id']}/stream/v2")
        after = scrape(http)
    assert response.status_code == 200
    assert delta(before, after, "origin_store_hits_total") == 1
    assert cuts(after) == 0, f"the replica cut although the store had it ({took:.1f} s)"
    wait_for(
        lambda: not fleet.has_version(first["id"], 1) and not fleet.has_version(second["id"], 1),
        30, "the superseded versions to leave the store after the grace period",
    )  # fmt: skip


def test_an_export_lands_in_the_store_with_a_presigned_download(
    fleet: Fleet, ffmpeg: str, tmp_path: Path
) -> None:
    import httpx

    from tests.mediacheck import decoded_frames

    clip = fleet.clips[-1]
    with fleet.a.client() as http:
        asked = http.post(f"/api/clips/{clip['id']}/export")
        assert asked.status_code == 202, asked.text
        status_url = asked.headers["location"]
        wait_for(lambda: http.get(status_url).json()["status"] in ("done", "failed"),
                 60, "the export job")  # fmt: skip
        export = http.get(status_url).json()
    assert export["status"] == "done", export
    assert export["file_name"] == f"sample_{_s(clip['start'])}-{_s(clip['end'])}.mp4"
    download = httpx.get(export["download_url"], timeout=30)
    assert download.status_code == 200
    assert f'filename="{export["file_name"]}"' in download.headers["content-disposition"]
    assert download.headers["content-disposition"].startswith("attachment")
    file = tmp_path / export["file_name"]
    file.write_bytes(download.content)
    assert (
        hashlib.sha256(download.content).hexdigest()
        == hashlib.sha256(fleet.object_bytes(clip["id"], clip["version"])).hexdigest()
    )
    frames = decoded_frames(ffmpeg, file)
    assert len(frames) == round((clip["end"] - clip["start"]) * 30)


def _s(seconds: float) -> str:
    return f"{seconds:g}"


def test_the_cli_exports_to_an_s3_prefix_through_the_worker(fleet: Fleet) -> None:
    clip = fleet.clips[0]
    result = subprocess.run(
        [sys.executable, "-m", "origin", "clips", "export", str(clip["id"]),
         "--to", f"s3://{fleet.bucket}/exports/", "--json"],
        env={**fleet.env, "PATH": os.environ["PATH"]},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    export = json.loads(result.stdout)
    name = f"sample_{_s(clip['start'])}-{_s(clip['end'])}.mp4"
    assert export["status"] == "done"
    assert export["location"] == f"s3://{fleet.bucket}/exports/{name}"
    assert export["download_url"] is None
    head = fleet.s3.head_object(Bucket=fleet.bucket, Key=f"exports/{name}")
    assert head["ContentLength"] == export["size_bytes"]
    assert head["ContentType"] == "video/mp4"
