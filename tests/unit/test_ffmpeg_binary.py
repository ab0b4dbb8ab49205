import pytest

from pool.ffmpeg_binary import FfmpegNotFound, find_ffmpeg


def test_a_configured_binary_that_does_not_run_is_an_error() -> None:
    with pytest.raises(FfmpegNotFound, match="ORIGIN_FFMPEG=/no/such/ffmpeg does not run"):
        find_ffmpeg("/no/such/ffmpeg")


def test_a_configured_binary_that_fails_is_an_error() -> None:
    with pytest.raises(FfmpegNotFound, match="exited with status"):
        find_ffmpeg("/bin/false")


def test_discovery_finds_a_working_ffmpeg() -> None:
    assert "ffmpeg" in find_ffmpeg()


def test_nothing_found_names_every_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    import pool.ffmpeg_binary as module

    find_ffmpeg.cache_clear()
    monkeypatch.setattr(module, "_wheel_ffmpeg", lambda: (None, "unavailable (no wheel)"))
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        with pytest.raises(FfmpegNotFound) as raised:
            find_ffmpeg()
    finally:
        find_ffmpeg.cache_clear()
    assert "imageio-ffmpeg: unavailable (no wheel)" in str(raised.value)
    assert "ffmpeg on PATH: not found" in str(raised.value)
