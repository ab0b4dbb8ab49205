"""The `origin` command line, run as a real process against a real database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from origin.signing import verify
from tests.conftest import run_async


def origin(
    *args: str, database_url: str | None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ORIGIN_", "DATABASE_"))}
    if database_url:
        full_env["DATABASE_URL"] = database_url
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "origin", *args],
        capture_output=True, text=True, env=full_env, timeout=120, check=False,
    )  # fmt: skip


def ok_json(*args: str, database_url: str) -> Any:
    result = origin(*args, "--json", database_url=database_url)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_user_error(result: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("origin: error: ")
    assert re.search(pattern, lines[0]), lines[0]


def ffmpeg_keyframe_times(ffmpeg: str, path: Path) -> list[float]:
    """Keyframe times as ffmpeg's decoder reports them (independent of the probe)."""
    result = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-skip_frame", "nokey", "-i", str(path),
         "-map", "0:v:0", "-vf", "showinfo", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [float(t) for t in re.findall(r"pts_time:\s*([0-9.]+)", result.stderr)]


def test_sources_add_tiles_the_sample_and_stores_its_keyframes(
    database_url: str, sample_video: Path, ffmpeg: str
) -> None:
    added = ok_json("sources", "add", str(sample_video), database_url=database_url)
    assert set(added) == {*SOURCE_KEYS, "clips", "warnings", "probe", "probe_bytes"}
    # Probed from the index: the moov and a few bytes, not the file.
    assert added["probe"] == "index"
    assert 0 < added["probe_bytes"] < sample_video.stat().st_size / 4
    assert added["warnings"] == []
    assert (added["precision"], added["precision_reason"]) == ("smart", None)
    assert (added["display_width"], added["display_height"], added["rotation"]) == (320, 240, 0)
    assert added["uri"] == sample_video.resolve().as_uri()
    assert added["duration"] == pytest.approx(30.0)
    clips = added["clips"]
    assert [(c["start"], c["end"]) for c in clips] == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]
    for clip in clips:
        assert set(clip) == {"id", "source_id", "start", "end", "version", "url"}
        assert clip["version"] == 1
        assert clip["url"] == f"/videos/clips/{clip['id']}/stream/v1"

    async def stored_keyframes() -> list[float]:
        conn = await asyncpg.connect(database_url)
        try:
            return list(await conn.fetchval("SELECT keyframes FROM source_videos"))
        finally:
            await conn.close()

    stored = run_async(stored_keyframes)
    assert stored == pytest.approx(ffmpeg_keyframe_times(ffmpeg, sample_video), abs=1e-6)
    assert stored == pytest.approx([float(t) for t in range(0, 30, 2)])


#: `sources list --json`: the stable keys of INTERFACE.md, then display and precision.
SOURCE_KEYS = {
    "id", "uri", "duration", "clip_count",
    "display_width", "display_height", "rotation", "precision", "precision_reason",
}  # fmt: skip


def test_sources_add_with_cuts_and_every(database_url: str, sample_video: Path) -> None:
    by_cuts = ok_json(
        "sources", "add", str(sample_video), "--cuts", "12.5,5", database_url=database_url
    )
    assert [(c["start"], c["end"]) for c in by_cuts["clips"]] == [(0, 5), (5, 12.5), (12.5, 30)]

    copy = sample_video.with_name("copy.mp4")
    copy.write_bytes(sample_video.read_bytes())
    by_every = ok_json(
        "sources", "add", f"file://{copy}", "--every", "7", database_url=database_url
    )
    assert [c["start"] for c in by_every["clips"]] == [0, 7, 14, 21, 28]
    assert by_every["clips"][-1]["end"] == 30

    listed = ok_json("sources", "list", database_url=database_url)
    assert [(s["id"], s["clip_count"]) for s in listed] == [(by_cuts["id"], 3), (by_every["id"], 5)]
    assert set(listed[0]) == SOURCE_KEYS
    only_second = ok_json(
        "clips", "list", "--source", str(by_every["id"]), database_url=database_url
    )
    assert only_second == by_every["clips"]
    assert len(ok_json("clips", "list", database_url=database_url)) == 8


def test_edits_through_the_cli(database_url: str, sample_video: Path) -> None:
    clips = ok_json("sources", "add", str(sample_video), database_url=database_url)["clips"]
    first, second = clips[0]["id"], clips[1]["id"]

    split = origin("clips", "split", str(first), "4.25", database_url=database_url)
    assert split.returncode == 0, split.stderr
    assert origin("clips", "move-cut", str(first), "3", database_url=database_url).returncode == 0
    merged = origin("clips", "merge", str(second), database_url=database_url)
    assert merged.returncode == 0, merged.stderr

    after = ok_json("clips", "list", database_url=database_url)
    assert [(c["start"], c["end"], c["version"]) for c in after] == [
        (0, 3, 3),  # split (v2), then its cut moved (v3)
        (3, 10, 2),  # born at the split (v1), start moved (v2)
        (10, 30, 2),  # merged with its successor
    ]
    url = origin("url", str(first), database_url=database_url)
    assert url.stdout.strip() == f"/videos/clips/{first}/stream/v3"


def test_url_is_signed_when_a_key_is_set(database_url: str, sample_video: Path) -> None:
    clip = ok_json("sources", "add", str(sample_video), database_url=database_url)["clips"][0]
    result = origin(
        "url", str(clip["id"]), "--ttl", "60",
        database_url=database_url, env={"ORIGIN_SIGNING_KEY": "k1,k0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path, _, query = result.stdout.strip().partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    assert path == clip["url"]
    assert verify(path, params["exp"], params["sig"], [b"k1"]) is None
    assert verify(path, params["exp"], params["sig"], [b"k0"]) == "invalid token"


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["sources", "add", "/no/such/file.mp4"], "no such file"),
        (["sources", "add", "s3://bucket"], "expected s3://bucket/key"),
        (["sources", "add", "ftp://host/x.mp4"], "unsupported source scheme"),
        (["clips", "split", "999", "1"], "no clip with id 999"),
        (["clips", "merge", "999"], "no clip with id 999"),
        (["clips", "move-cut", "999", "1"], "no clip with id 999"),
        (["url", "999"], "no clip with id 999"),
        (["clips", "list", "--source", "999"], "no source with id 999"),
    ],
)
def test_user_errors_are_one_line(database_url: str, args: list[str], pattern: str) -> None:
    assert_user_error(origin(*args, database_url=database_url), pattern)


def test_files_that_are_not_videos(database_url: str, session_dir: Path, ffmpeg: str) -> None:
    text = session_dir / "notes.mp4"
    text.write_text("not a video\n")
    assert_user_error(
        origin("sources", "add", str(text), database_url=database_url), "cannot read the source"
    )
    audio = session_dir / "tone.m4a"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "sine", "-t", "2", str(audio)],
        check=True,
    )
    assert_user_error(
        origin("sources", "add", str(audio), database_url=database_url), "no video stream"
    )
    assert ok_json("sources", "list", database_url=database_url) == []


def test_a_truncated_upload_is_refused(
    database_url: str, sample_video: Path, session_dir: Path, ffmpeg: str
) -> None:
    """A faststart file cut short keeps a whole moov: the index alone would take it."""
    whole = session_dir / "faststart.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(sample_video), "-c", "copy",
         "-movflags", "+faststart", str(whole)],
        check=True,
    )  # fmt: skip
    cut_short = session_dir / "cut-short.mp4"
    data = whole.read_bytes()
    cut_short.write_bytes(data[: len(data) - 50_000])
    assert_user_error(
        origin("sources", "add", str(cut_short), database_url=database_url), "truncated"
    )
    assert ok_json("sources", "list", database_url=database_url) == []
    assert ok_json("sources", "add", str(whole), database_url=database_url)["probe"] == "index"


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--every", "0"], "must be positive"),
        (["--every", "-5"], "must be positive"),
        (["--every", "abc"], "must be a number"),
        (["--every", "nan"], "finite"),
        (["--cuts", "0"], "outside"),
        (["--cuts", "31"], "outside"),
        (["--cuts", "-2"], "outside"),
        (["--cuts", "5,5.01"], "shorter than one frame"),
        (["--cuts", ","], "at least one"),
    ],
)
def test_bad_cut_plans_register_nothing(
    database_url: str, sample_video: Path, args: list[str], pattern: str
) -> None:
    assert_user_error(
        origin("sources", "add", str(sample_video), *args, database_url=database_url), pattern
    )
    assert ok_json("sources", "list", database_url=database_url) == []


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (["split", "{id}", "-1"], "not inside"),
        (["split", "{id}", "999"], "not inside"),
        (["split", "{id}", "0"], "not inside"),
        (["split", "{id}", "inf"], "finite"),
        (["move-cut", "{id}", "0"], "not strictly between"),
        (["move-cut", "{id}", "45"], "not strictly between"),
        (["move-cut", "{last}", "25"], "last clip"),
        (["merge", "{last}"], "last clip"),
    ],
)
def test_bad_edits_change_nothing(
    database_url: str, sample_video: Path, edit: list[str], pattern: str
) -> None:
    clips = ok_json("sources", "add", str(sample_video), database_url=database_url)["clips"]
    ids = {"id": str(clips[0]["id"]), "last": str(clips[-1]["id"])}
    args = [a.format(**ids) for a in edit]
    assert_user_error(origin("clips", *args, database_url=database_url), pattern)
    assert ok_json("clips", "list", database_url=database_url) == clips


@pytest.mark.parametrize(
    "args",
    [["clips", "split", "abc", "1"], ["clips", "merge", "-3"], ["url", "0"], ["frobnicate"], []],
)
def test_usage_errors_exit_2(database_url: str, args: list[str]) -> None:
    result = origin(*args, database_url=database_url)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_bad_settings_and_unreachable_database(database_url: str) -> None:
    assert_user_error(
        origin("sources", "list", database_url=database_url, env={"ORIGIN_MAX_PROCESSES": "0"}),
        "ORIGIN_MAX_PROCESSES",
    )
    assert_user_error(
        origin("sources", "list", database_url="postgresql://origin@127.0.0.1:1/none"),
        "cannot connect to the database",
    )
    assert_user_error(
        origin("sources", "add", "x.mp4", database_url=database_url,
               env={"ORIGIN_FFMPEG": "/no/ffmpeg"}),
        "ORIGIN_FFMPEG=/no/ffmpeg does not run",
    )  # fmt: skip


def test_db_up_is_idempotent(database_url: str) -> None:
    result = origin("db", "up", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "database is up to date"


def test_help_lists_every_setting(database_url: str) -> None:
    from origin.settings import SETTINGS

    result = origin("--help", database_url=database_url)
    assert result.returncode == 0
    for setting in SETTINGS:
        assert setting.env in result.stdout


def test_private_cluster_when_database_url_is_unset(session_dir: Path, sample_video: Path) -> None:
    home = session_dir / "home"
    env = {"ORIGIN_HOME": str(home)}
    try:
        first = origin("sources", "add", str(sample_video), "--json", database_url=None, env=env)
        assert first.returncode == 0, first.stderr
        again = origin("sources", "list", "--json", database_url=None, env=env)
        assert again.returncode == 0, again.stderr
        assert [s["id"] for s in json.loads(again.stdout)] == [json.loads(first.stdout)["id"]]
    finally:
        stopped = origin("db", "stop", database_url=None, env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == "stopped the private cluster"
    assert not (home / "pg" / "data" / "postmaster.pid").exists()
