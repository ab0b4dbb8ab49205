"""The MP4 writer and the sample index agree, and the avcC helpers read what x264 writes."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from pool.mp4 import avc
from pool.mp4.boxes import file_reader, parse_boxes
from pool.mp4.index import read_movie
from pool.mp4.writer import OutSample, OutTrack, SampleRef, write_mp4


@pytest.fixture(scope="module")
def x264_file(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> Path:
    path = tmp_path_factory.mktemp("x264") / "ids.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
         "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2",
         "-c:v", "libx264", "-x264-params", "sps-id=3", "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip
    return path


def avc_config(path: Path) -> avc.AvcConfig:
    video = read_movie(*file_reader(path)).first(b"vide")
    assert video is not None
    [record] = [b for b in parse_boxes(video.sample_entry.payload[78:]) if b.type == b"avcC"]
    return avc.AvcConfig.parse(record.payload)


def test_parameter_set_ids_and_format_are_read_from_x264_output(x264_file: Path) -> None:
    config = avc_config(x264_file)
    assert config.used_ids() == {3}
    assert avc.pps_ids(config.pps[0]) == (3, 3)
    fmt = avc.sps_format(config.sps[0])
    assert (fmt.profile, fmt.chroma_format, fmt.bit_depth) == (100, 1, 8)
    assert avc.AvcConfig.parse(config.serialize()) == config


def test_merging_keeps_both_sets_and_refuses_clashing_ids(x264_file: Path) -> None:
    config = avc_config(x264_file)
    assert config.merged(config) == config  # the same sets are not added twice
    other = avc.AvcConfig(
        config.profile, config.compatibility, config.level, 4,
        sps=(config.sps[0][:-1] + b"\x01",), pps=config.pps,
    )  # fmt: skip
    with pytest.raises(avc.AvcError, match="clash"):
        config.merged(other)


def test_written_samples_read_back_exactly(x264_file: Path) -> None:
    source = read_movie(*file_reader(x264_file))
    video, audio = source.first(b"vide"), source.first(b"soun")
    assert video is not None
    assert audio is not None
    data = x264_file.read_bytes()

    def out(samples: tuple, shift: int) -> list[OutSample]:  # type: ignore[type-arg]
        return [
            OutSample(SampleRef(0, s.offset, s.size), s.dts + shift, s.pts - s.dts, s.duration,
                      s.sync)
            for s in samples
        ]  # fmt: skip

    buffer = io.BytesIO()
    shift = -video.samples[0].dts
    write_mp4(
        buffer,
        [
            OutTrack(video, out(video.samples, shift), media_start=shift),
            OutTrack(audio, out(audio.samples, -audio.samples[0].dts), -audio.samples[0].dts),
        ],
        lambda ref: data[ref.offset : ref.offset + ref.size],
    )
    written = buffer.getvalue()
    copy = read_movie(lambda offset, size: written[offset : offset + size], len(written))
    for before, after in zip(source.tracks, copy.tracks, strict=True):
        assert after.timescale == before.timescale
        assert [(s.size, s.dts, s.pts, s.duration, s.sync) for s in after.samples] == [
            (s.size, s.dts, s.pts, s.duration, s.sync) for s in before.samples
        ]
        for a, b in zip(before.samples, after.samples, strict=True):
            assert written[b.offset : b.offset + b.size] == data[a.offset : a.offset + a.size]
