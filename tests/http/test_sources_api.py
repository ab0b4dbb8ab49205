"""One source through a real server: its details, its frame times, and how each clip is cut."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

from tests.corpus.generate import generate_named
from tests.corpus.matrix import _stored
from tests.mediacheck import decoded_frames
from tests.servers import ServerFactory, register

#: Cheap corpus sources whose timelines differ from the sample's (which has
#: ffmpeg's edit list and B-frames): no edit list (first frame at 0.0667 s),
#: an empty edit (video starts at 0.5 s), GStreamer's edit list, variable
#: frame rate at 90 kHz, a QuickTime file.
TIMELINES = (
    "ff-no-editlist",
    "ff-audio-before-video",
    "gst-x264-mp4mux",
    "ff-vfr",
    "ff-phone-vfr-mov",
)


def expected_times(ffmpeg: str, path: Path) -> list[float]:
    """The presentation time of every frame ffmpeg decodes, floored to the microsecond."""
    return [float(_stored(frame.time)) for frame in decoded_frames(ffmpeg, path)]


def test_frames_are_the_times_ffmpeg_decodes(
    database_url: str, sample_video: Path, server_factory: ServerFactory, ffmpeg: str
) -> None:
    files = {"sample": sample_video, **{name: generate_named(name, ffmpeg) for name in TIMELINES}}
    ids = {name: register(database_url, path)["id"] for name, path in files.items()}
    server = server_factory(database_url)
    with server.client() as http:
        for name, path in files.items():
            answer = http.get(f"/api/sources/{ids[name]}/frames")
            assert answer.status_code == 200, (name, answer.text)
            assert answer.headers["cache-control"] == "private, max-age=3600"
            assert answer.headers["content-type"] == "application/json"
            times = answer.json()["times"]
            assert times == expected_times(ffmpeg, path), name
            assert len(times) == http.get(f"/api/sources/{ids[name]}").json()["frame_count"]
        # Read once, then kept.
        http.get(f"/api/sources/{ids['sample']}/frames")
    reads = [line for line in server.log().splitlines() if "frame_times_read" in line]
    assert len(reads) == len(files)


def test_source_details(
    database_url: str, sample_video: Path, server_factory: ServerFactory, tmp_path: Path
) -> None:
    spaced = tmp_path / "my clip #1.mp4"
    shutil.copyfile(sample_video, spaced)
    first = register(database_url, sample_video)
    second = register(database_url, spaced)
    server = server_factory(database_url)
    with server.client() as http:
        listed = http.get("/api/sources").json()
        answer = http.get(f"/api/sources/{first['id']}")
        other = http.get(f"/api/sources/{second['id']}").json()
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    source = answer.json()
    assert source == listed[0]
    # Everything `sources add --json` says (its clip_count is the one before the clips).
    # How it was probed is said at registration only.
    said_once = ("clips", "warnings", "clip_count", "probe", "probe_bytes")
    same = [k for k in first if k not in said_once]
    assert {k: source[k] for k in same} == {k: first[k] for k in same}
    assert source["clip_count"] == 3
    assert source["file_name"] == "sample.mp4"
    assert source["size_bytes"] == sample_video.stat().st_size
    assert source["frame_count"] == 900
    assert source["video_codec"] == "h264"
    assert source["keyframe_count"] == 15
    assert other["file_name"] == "my clip #1.mp4"
    assert listed[1]["file_name"] == "my clip #1.mp4"


def _facts(clip: dict[str, Any]) -> tuple[float, float, int, str, float]:
    return clip["start"], clip["end"], clip["frames"], clip["cut"], clip["reencoded_s"]


def test_clips_say_how_they_are_cut(
    database_url: str, sample_video: Path, server_factory: ServerFactory, ffmpeg: str
) -> None:
    # 30 fps, a keyframe every 2 s: 4 and 12 are keyframes, 5.5, 6.5 and 7 are
    # frames inside a GOP, 7.99 lies between the frames 7.9667 and 8 (a keyframe).
    added = register(database_url, sample_video, "--cuts", "4,5.5,6.5,7,7.99,12")
    server = server_factory(database_url)
    with server.client() as http:
        clips = http.get(f"/api/sources/{added['id']}/clips").json()
        assert [_facts(c) for c in clips] == [
            (0, 4, 120, "copied", 0),
            (4, 5.5, 45, "copied", 0),
            (5.5, 6.5, 30, "smart", 0.5),  # re-encoded up to the keyframe at 6
            (6.5, 7, 15, "smart", 0.5),  # no keyframe inside: all of it
            (7, 7.99, 30, "smart", 0.99),
            (7.99, 12, 120, "copied", 0),  # the first frame it shows is the keyframe at 8
            (12, 30, 540, "copied", 0),
        ]  # fmt: skip
        # Each count is what the clip shows: the frames starting in [start, end).
        times = [frame.time for frame in decoded_frames(ffmpeg, sample_video)]
        for clip in clips:
            start, end = Fraction(str(clip["start"])), Fraction(str(clip["end"]))
            assert clip["frames"] == sum(1 for t in times if start <= t < end)
        # The clip list keeps its other keys (clip_json's and the thumbnail).
        assert set(clips[0]) == {
            "id", "source_id", "start", "end", "version", "url", "thumbnail",
            "frames", "cut", "reencoded_s",
        }  # fmt: skip

        split = http.post(f"/api/clips/{clips[-1]['id']}/split", json={"at": "20.1"})
        assert split.status_code == 200, split.text
        assert [_facts(c) for c in split.json()["changed"]] == [
            (12, 20.1, 243, "copied", 0),
            (20.1, 30, 297, "smart", 1.9),
        ]  # fmt: skip


def test_sources_without_frame_times_still_list_their_clips(
    database_url: str, sample_video: Path, server_factory: ServerFactory, tmp_path: Path,
    ffmpeg: str,
) -> None:  # fmt: skip
    doomed = tmp_path / "doomed.mp4"
    shutil.copyfile(sample_video, doomed)
    gone = register(database_url, doomed)["id"]
    doomed.unlink()
    fragmented = register(database_url, generate_named("gst-x264-fragmented", ffmpeg))["id"]
    server = server_factory(database_url)
    with server.client() as http:
        # A source file that is gone: 503 until it is back, like a clip that must be cut.
        frames = http.get(f"/api/sources/{gone}/frames")
        assert frames.status_code == 503
        assert frames.headers["retry-after"] == "5"
        assert frames.headers["cache-control"] == "no-store"
        assert set(frames.json()) == {"error"}
        clips = http.get(f"/api/sources/{gone}/clips")
        assert clips.status_code == 200
        assert [(c["frames"], c["cut"]) for c in clips.json()] == [(None, "copied")] * 3

        # An index this reader does not handle (fragmented MP4): 422, for good.
        frames = http.get(f"/api/sources/{fragmented}/frames")
        assert frames.status_code == 422
        assert "fragmented" in frames.json()["error"]
        clips = http.get(f"/api/sources/{fragmented}/clips")
        assert {(c["frames"], c["cut"], c["reencoded_s"]) for c in clips.json()} == {
            (None, "editlist", 0)
        }
