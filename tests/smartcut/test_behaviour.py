"""The smart cut as an operator sees it: metrics, logs, fallbacks, determinism, failures."""

from __future__ import annotations

import os
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import httpx
import pytest

from pool.mp4.index_file import INDEX_MAGIC
from tests.corpus.matrix import CASES, Corpus
from tests.mediacheck import frame_hashes, source_frame_hashes, stream_durations
from tests.reliability.test_processes import make_wrapper, wait_for_no_ffmpeg
from tests.servers import (
    Samples,
    Server,
    ServerFactory,
    delta,
    json_lines,
    register,
    scrape,
    start_server,
    value,
)

#: x264 with B-frames and a keyframe exactly every 2 s at 30 fps.
X264_2S_GOP = ("-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-x264-params", "scenecut=0")


def encode_source(ffmpeg: str, path: Path, *args: str) -> Path:
    """Write a 6 s test source at ``path``: ``args`` are its inputs and codec options."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg, "-v", "error", "-y", *args, "-t", "6", str(path)], check=True)
    return path


def get_measured(server: Server, url: str) -> tuple[Samples, httpx.Response, Samples]:
    """The metrics before, the answer, the metrics after one GET."""
    with server.client() as http:
        before = scrape(http)
        answer = http.get(url)
        return before, answer, scrape(http)


def head_copy_tail_clips(corpus: Corpus) -> list[dict[str, object]]:
    """Clips that start mid-GOP with a keyframe inside: two closed-GOP sources', and an
    open-GOP one's (its keyframe rewritten into an IDR)."""
    keyframe_inside = CASES.index("keyframe inside")
    return [
        corpus.sources[name].clips[keyframe_inside]
        for name in ("ff-1080p-2997", "gst-x264-qtmux", "ff-open-gop-pyramid")
    ]


def test_metrics_and_logs_describe_each_smart_cut(
    database_url: str, sample_video: Path, server_factory: ServerFactory
) -> None:
    # 5.5: mid-GOP (keyframes every 2 s); 12.0: on a keyframe; 20.1: mid-GOP.
    clips = register(database_url, sample_video, "--cuts", "5.5,12,20.1")["clips"]
    server = server_factory(database_url)
    with server.client() as http:
        before = scrape(http)
        assert http.get(clips[1]["url"]).status_code == 200  # [5.5, 12): head + copy
        assert http.get(clips[2]["url"]).status_code == 200  # [12, 20.1): copy + tail
        after = scrape(http)
    assert delta(before, after, "origin_smartcut_reencoded_seconds_count") == 2
    # [5.5, 6) is re-encoded (15 frames at 30 fps) and some of [20, 20.1).
    reencoded = delta(before, after, "origin_smartcut_reencoded_seconds_sum")
    assert 0.5 <= reencoded <= 0.5 + 0.1 + 0.0001
    # Nothing before the start is sent, and the leakage metric says so.
    assert delta(before, after, "origin_keyframe_leakage_seconds_count", mode="smart") == 2
    assert delta(before, after, "origin_keyframe_leakage_seconds_sum", mode="smart") == 0
    assert value(after, "origin_keyframe_leakage_seconds_count", mode="file") == 0
    # It read the index and the two clips' spans, far less than the whole source.
    read = delta(before, after, "origin_smartcut_source_bytes_total")
    assert 0 < read < sample_video.stat().st_size
    # One encode run (the head of [5.5, 12)) and one for the tail of [12, 20.1).
    assert delta(before, after, "origin_ffmpeg_runs_total", mode="smart", outcome="ok") == 2
    server.stop()

    cuts = [line for line in json_lines(server) if line["event"] == "smart_cut"]
    assert len(cuts) == 2
    head_cut = next(c for c in cuts if c["clip_id"] == clips[1]["id"])
    assert head_cut["frames"] == 195  # 6.5 s at 30 fps
    assert head_cut["copied_frames"] == 180
    assert head_cut["reencoded_s"] == 0.5
    assert head_cut["leakage_s"] == 0
    assert head_cut["level"] == "info"
    runs = [line for line in json_lines(server) if line["event"] == "ffmpeg_run"]
    assert {r["mode"] for r in runs} == {"smart"}
    assert all(r["leakage_s"] == 0 for r in runs)


def test_a_non_h264_source_falls_back_to_the_edit_list(
    database_url: str, server_factory: ServerFactory, session_dir: Path, ffmpeg: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    source = encode_source(
        ffmpeg, session_dir / "media" / "vp9.mp4",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
        "-c:v", "libvpx-vp9", "-g", "50", "-deadline", "realtime", "-cpu-used", "8",
    )  # fmt: skip
    clips = register(database_url, source, "--cuts", "2.3")["clips"]
    server = server_factory(database_url)
    before, answer, after = get_measured(server, clips[1]["url"])
    assert answer.status_code == 200
    out = tmp_path / "clip.mp4"
    out.write_bytes(answer.content)
    expected = source_frame_hashes(ffmpeg, source, Fraction("2.3"), Fraction(6))
    assert frame_hashes(ffmpeg, out) == expected  # the edit list is exact
    assert delta(before, after, "origin_smartcut_fallbacks_total", reason="codec") == 1
    assert delta(before, after, "origin_ffmpeg_runs_total", mode="file", outcome="ok") == 1
    server.stop()
    [fallback] = [line for line in json_lines(server) if line["event"] == "smart_cut_fallback"]
    assert fallback["level"] == "warning"
    assert fallback["reason"] == "codec"
    assert "vp09" in fallback["detail"]


def test_a_clip_needing_a_long_re_encode_uses_the_edit_list(
    corpus: Corpus, server_factory: ServerFactory
) -> None:
    # x264 at its defaults puts one keyframe in this 5 s source: a clip after it
    # is re-encoded whole (about 1 s). Above the limit it is stream-copied. (Open-GOP
    # sources were the example here until their keyframes became copy points.)
    clip = corpus.sources["ff-x264-defaults"].clips[CASES.index("keyframe inside")]
    server = server_factory(corpus.database_url, ORIGIN_SMART_MAX_REENCODE_S="0.1")
    with server.client() as http:
        before = scrape(http)
        assert http.get(clip["url"]).status_code == 200
        after = scrape(http)
    assert delta(before, after, "origin_smartcut_fallbacks_total", reason="reencode_too_long") == 1


def test_two_processes_cut_identical_bytes(corpus: Corpus, session_dir: Path) -> None:
    clips = head_copy_tail_clips(corpus)
    assert len(clips) == 3
    bodies = []
    for n in range(2):
        server = start_server(
            session_dir / f"determinism-{n}", {"DATABASE_URL": corpus.database_url}
        )
        try:
            with server.client() as http:
                bodies.append([http.get(str(c["url"]), timeout=120).content for c in clips])
        finally:
            server.stop()
    assert all(len(b) > 10_000 for b in bodies[0])
    assert bodies[0] == bodies[1]


def test_an_encode_that_times_out_leaves_nothing_behind(
    database_url: str, sample_video: Path, server_factory: ServerFactory,
    session_dir: Path, ffmpeg: str,
) -> None:  # fmt: skip
    clips = register(database_url, sample_video, "--cuts", "5.5")["clips"]
    # Reading the decoder input at 1/100 of real time: the head encode cannot finish.
    wrapper, _ = make_wrapper(session_dir / "crawling-ffmpeg", ffmpeg, "-readrate", "0.01")
    cache = session_dir / "smart-timeout-cache"
    server = server_factory(
        database_url, ORIGIN_FFMPEG=str(wrapper), ORIGIN_STREAM_TIMEOUT_S="1",
        ORIGIN_CACHE_DIR=str(cache),
    )  # fmt: skip
    with server.client() as http:
        answer = http.get(clips[1]["url"])
        assert answer.status_code == 500
        assert answer.headers["cache-control"] == "no-store"
        wait_for_no_ffmpeg(server, within_s=5)
        # No clip and no temp; the source's saved index (indexes/) is not the clip's.
        assert sorted(p.name for p in cache.iterdir() if p.name != "indexes") == []


def test_a_source_without_audio_is_smart_cut(
    database_url: str, server_factory: ServerFactory, session_dir: Path, ffmpeg: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    source = encode_source(
        ffmpeg, session_dir / "media" / "video-only.mp4",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", *X264_2S_GOP,
    )  # fmt: skip
    clips = register(database_url, source, "--cuts", "1.3,4.5")["clips"]
    server = server_factory(database_url)
    before, answer, after = get_measured(server, clips[1]["url"])
    assert answer.status_code == 200
    assert delta(before, after, "origin_smartcut_reencoded_seconds_count") == 1
    out = tmp_path / "clip.mp4"
    out.write_bytes(answer.content)
    expected = source_frame_hashes(ffmpeg, source, Fraction("1.3"), Fraction("4.5"))
    got = frame_hashes(ffmpeg, out)
    assert len(got) == len(expected)
    # From the keyframe at 2 s (frame 21 of the clip) on, copied; the last mini-GOP
    # may be re-encoded (4.5 s falls inside one).
    assert got[21:-4] == expected[21:-4]


def test_a_clip_after_the_audio_ended_has_no_audio_track(
    database_url: str, server_factory: ServerFactory, session_dir: Path, ffmpeg: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    source = encode_source(
        ffmpeg, session_dir / "media" / "audio-ends-at-3s.mp4",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
        "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=3", *X264_2S_GOP, "-c:a", "aac",
    )  # fmt: skip
    clips = register(database_url, source, "--cuts", "1.3,4.3")["clips"]
    server = server_factory(database_url)
    with server.client() as http:
        during, after = (http.get(c["url"]) for c in clips[1:])
    assert (during.status_code, after.status_code) == (200, 200)
    (tmp_path / "during.mp4").write_bytes(during.content)
    (tmp_path / "after.mp4").write_bytes(after.content)
    assert stream_durations(ffmpeg, tmp_path / "during.mp4")["audio"] == pytest.approx(
        1.7, abs=0.03
    )
    assert set(stream_durations(ffmpeg, tmp_path / "after.mp4")) == {"video"}


def test_a_restarted_server_loads_the_saved_index_instead_of_parsing(
    database_url: str, sample_video: Path, server_factory: ServerFactory, session_dir: Path
) -> None:
    clips = register(database_url, sample_video, "--cuts", "5.5,12.3")["clips"]
    cache = session_dir / f"saved-index-cache-{time.monotonic_ns()}"
    first = server_factory(database_url, ORIGIN_CACHE_DIR=str(cache))
    with first.client() as http:
        assert http.get(clips[1]["url"]).status_code == 200
    first.stop()
    (saved,) = (cache / "indexes").iterdir()  # one source, one index, no temp
    assert saved.suffix == ".idx"
    assert saved.read_bytes().startswith(INDEX_MAGIC)
    inode = saved.stat().st_ino
    os.utime(saved, ns=(0, 0))
    second = server_factory(database_url, ORIGIN_CACHE_DIR=str(cache))
    with second.client() as http:
        assert http.get(clips[2]["url"]).status_code == 200
    # Loaded and marked used: a rebuilt index would be a new file renamed into place.
    assert saved.stat().st_ino == inode
    assert saved.stat().st_mtime_ns > 0
