"""The ffmpeg argv for a clip, and the request it is built from (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pool.argv import PIPE_OUTPUT, build_clip_argv
from pool.request import ClipRequest, Mode, seconds_text


def request(start: str = "123.4", end: str = "133.4", mode: Mode = "file") -> ClipRequest:
    return ClipRequest(
        clip_id=7,
        version=3,
        source_input="file:/media/src.mp4",
        source_identity="abc-123",
        start=Decimal(start),
        end=Decimal(end),
        mode=mode,
    )


def option(argv: list[str], name: str) -> str:
    """The value following the only occurrence of ``name``."""
    assert argv.count(name) == 1, f"{name} appears {argv.count(name)} times"
    return argv[argv.index(name) + 1]


def test_file_mode_argv_is_exactly_the_recipe() -> None:
    argv = build_clip_argv("/bin/ffmpeg", request(), "file:/cache/x.tmp")
    assert argv == [
        "/bin/ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
        "-seek_timestamp", "1", "-ss", "123.4", "-i", "file:/media/src.mp4", "-t", "10",
        "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
        "-map_metadata", "-1", "-map_chapters", "-1",
        "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
        "-f", "mp4", "-y", "file:/cache/x.tmp",
    ]  # fmt: skip


def test_seek_is_an_input_option_and_duration_an_output_option() -> None:
    argv = build_clip_argv("ffmpeg", request(), "out.mp4")
    assert argv.index("-ss") < argv.index("-i") < argv.index("-t")


def test_file_mode_keeps_the_edit_list() -> None:
    argv = build_clip_argv("ffmpeg", request(), "out.mp4")
    # make_zero (or any fragmenting flag) would drop the edit list that hides the pre-roll.
    assert "-avoid_negative_ts" not in argv
    assert "-movflags" not in argv
    assert option(argv, "-f") == "mp4"


def test_pipe_mode_is_fragmented_mp4_to_stdout() -> None:
    argv = build_clip_argv("ffmpeg", request(mode="pipe"), PIPE_OUTPUT)
    assert option(argv, "-movflags") == "frag_keyframe+empty_moov+default_base_moof"
    assert argv[-1] == "pipe:1"
    assert option(argv, "-f") == "mp4"


@pytest.mark.parametrize("mode", ["file", "pipe"])
def test_output_is_deterministic(mode: Mode) -> None:
    argv = build_clip_argv("ffmpeg", request(mode=mode), "out")
    assert option(argv, "-fflags") == "+bitexact"
    assert option(argv, "-flags:v") == "+bitexact"
    assert option(argv, "-flags:a") == "+bitexact"
    assert option(argv, "-map_metadata") == "-1"
    assert not any("creation_time" in arg for arg in argv)
    assert argv[1:5] == ["-nostdin", "-hide_banner", "-v", "error"]


@pytest.mark.parametrize(
    ("start", "end", "ss", "t"),
    [
        ("0.1", "0.3", "0.1", "0.2"),  # float arithmetic would give 0.19999999999999998
        ("123.4", "133.4", "123.4", "10"),
        ("4.000", "9.500", "4", "5.5"),
        ("0", "1E+1", "0", "10"),
        ("1.000001", "2", "1.000001", "0.999999"),
        ("3599.999999", "7200", "3599.999999", "3600.000001"),
    ],
)
def test_times_are_formatted_exactly(start: str, end: str, ss: str, t: str) -> None:
    argv = build_clip_argv("ffmpeg", request(start, end), "out")
    assert option(argv, "-ss") == ss
    assert option(argv, "-t") == t


def test_same_request_same_argv() -> None:
    assert build_clip_argv("ffmpeg", request(), "o") == build_clip_argv("ffmpeg", request(), "o")


def test_empty_output_is_refused() -> None:
    with pytest.raises(ValueError, match="output"):
        build_clip_argv("ffmpeg", request(), "")


def test_seconds_text_never_uses_an_exponent() -> None:
    assert seconds_text(Decimal("1E+3")) == "1000"
    assert seconds_text(Decimal("0E-6")) == "0"
    assert seconds_text(Decimal("-0")) == "0"
    assert seconds_text(Decimal("0.500")) == "0.5"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("5", "5", "after start"),
        ("6", "5", "after start"),
        ("-1", "5", "negative"),
        ("1.0000001", "5", "microsecond"),
        ("NaN", "5", "finite"),
        ("1", "Infinity", "finite"),
    ],
)
def test_bad_spans_are_refused(start: str, end: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        request(start, end)


def test_duration_is_exact() -> None:
    assert request("0.1", "0.3").duration == Decimal("0.2")


def test_cache_key_is_filesystem_safe_and_names_the_clip() -> None:
    key = request().cache_key
    assert key.startswith("c7-v3-file-")
    assert len(key.rsplit("-", 1)[1]) == 16
    assert all(ch.isalnum() or ch in "-_." for ch in key)


def test_cache_key_changes_with_what_changes_the_bytes() -> None:
    base = request()
    assert base.cache_key == request().cache_key
    assert base.cache_key == request("123.400", "133.40").cache_key  # equal values, same key
    assert base.cache_key != request(mode="pipe").cache_key
    assert base.cache_key != request("123.5").cache_key
    other_source = ClipRequest(7, 3, base.source_input, "abc-124", base.start, base.end, "file")
    assert base.cache_key != other_source.cache_key
    other_version = ClipRequest(7, 4, base.source_input, "abc-123", base.start, base.end, "file")
    assert base.cache_key != other_version.cache_key


def test_cache_key_ignores_how_the_source_is_reached() -> None:
    # A presigned URL changes on every request; the bytes behind it do not.
    a = request()
    b = ClipRequest(7, 3, "https://s3/x?X-Amz-Signature=1", "abc-123", a.start, a.end, "file")
    assert a.cache_key == b.cache_key
