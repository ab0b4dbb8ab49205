"""H.264 bit-level rewriting (pool.mp4.rbsp, h264_params, slices) on hand-made bits and real
x264 slices: parse → write unchanged gives the same bytes; the rewrites change what they say."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from pool.cutting.assess import assess_source
from pool.cutting.open_gop import parameter_sets
from pool.cutting.smart_plan import SmartCutUnsupported
from pool.cutting.source_samples import avc_config
from pool.mp4 import avc
from pool.mp4.boxes import file_reader
from pool.mp4.h264_params import parse_sps, with_frame_num_gaps
from pool.mp4.index import read_movie
from pool.mp4.rbsp import BitReader, BitWriter, escape, stop_bit, unescape
from pool.mp4.slice_rewrite import renumbered, to_idr, with_references
from pool.mp4.slices import NAL_IDR, Mmco, ParamSets, SliceHeader, parse_header, parse_slice


def test_exp_golomb_codes_read_back_as_written() -> None:
    out = BitWriter()
    values = [0, 1, 2, 3, 7, 8, 255, 65535]
    for v in values:
        out.ue(v)
        out.se(-v)
        out.se(v)
    out.bits(3, 5)
    out.aligned(1)
    bits = BitReader(out.to_bytes())
    assert [(bits.ue(), bits.se(), bits.se()) for _ in values] == [(v, -v, v) for v in values]
    assert bits.bits(3) == 5
    assert out.to_bytes()[0] >> 3 == 0b11101  # ue(0), se(0), se(0): a 1 bit each; ue(1): 010


@pytest.mark.parametrize(
    ("rbsp", "payload"),
    [
        (b"\x00\x00\x00\x01", b"\x00\x00\x03\x00\x01"),
        (b"\x00\x00\x01\x05", b"\x00\x00\x03\x01\x05"),
        (b"\x00\x00\x00\x00\x00\x01", b"\x00\x00\x03\x00\x00\x03\x00\x01"),
        (b"\x00\x00\x03", b"\x00\x00\x03\x03"),
        (b"\x05\x00\x00\x04", b"\x05\x00\x00\x04"),
        (b"\x80\x00\x00", b"\x80\x00\x00\x03"),  # a cabac_zero_word at the end
        (b"\x80\x00\x00\x00\x00", b"\x80\x00\x00\x03\x00\x00\x03"),  # two
    ],
)
def test_emulation_prevention_round_trips(rbsp: bytes, payload: bytes) -> None:
    assert escape(rbsp) == payload
    assert unescape(payload) == rbsp


def test_the_stop_bit_is_the_last_one_bit() -> None:
    assert stop_bit(b"\xa0\x00") == 2
    assert stop_bit(b"\x01") == 7


def _x264(ffmpeg: str, path: Path, *options: str) -> Path:
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
         "-t", "3", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-g", "30", "-bf", "3", *options, str(path)],
        check=True,
    )  # fmt: skip
    return path


def _slices(path: Path) -> tuple[ParamSets, avc.AvcConfig, list[list[bytes]]]:
    """Parameter sets, avcC and every sample's slice NAL units."""
    config, samples = _slices_of(path)
    return parameter_sets(config), config, samples


def _slices_of(path: Path) -> tuple[avc.AvcConfig, list[list[bytes]]]:
    """The avcC and every sample's slice NAL units."""
    read_at, size = file_reader(path)
    video = read_movie(read_at, size).first(b"vide")
    assert video is not None
    config = avc_config(video)
    samples = []
    for sample in video.samples:
        data = read_at(sample.offset, sample.size)
        units = avc.nal_units(lambda at, n: data[at : at + n], len(data), 4)  # noqa: B023
        samples.append([data[s + 4 : e] for s, e, h in units if h & 0x1F in (1, 5)])
    return config, samples


@pytest.fixture(
    scope="module",
    params=[
        ("cabac", ("-x264-params", "open-gop=1:scenecut=0")),
        ("cavlc-slices", ("-coder", "0", "-x264-params", "open-gop=1:scenecut=0:slices=3")),
        ("weighted", ("-preset", "medium", "-x264-params", "open-gop=1:scenecut=0:weightp=2")),
    ],
    ids=lambda p: p[0],
)
def stream(
    request: pytest.FixtureRequest, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ParamSets, avc.AvcConfig, list[list[bytes]]]:
    name, options = request.param
    return _slices(_x264(ffmpeg, tmp_path_factory.mktemp("slices") / f"{name}.mp4", *options))


def test_renumbering_by_nothing_rewrites_every_slice_to_the_same_bytes(
    stream: tuple[ParamSets, avc.AvcConfig, list[list[bytes]]],
) -> None:
    params, _, samples = stream
    non_idr = [nal for sample in samples for nal in sample if nal[0] & 0x1F == 1]
    assert len(non_idr) > 80
    for nal in non_idr:
        assert renumbered(parse_slice(nal, params), 0, 0, None).apply(nal) == nal


def test_renumbering_shifts_frame_num_and_poc_and_keeps_the_rest(
    stream: tuple[ParamSets, avc.AvcConfig, list[list[bytes]]],
) -> None:
    params, _, samples = stream
    for nal in (nal for sample in samples[40:80] for nal in sample):
        before = parse_header(nal, params)
        after = parse_header(renumbered(parse_slice(nal, params), 3, 10, None).apply(nal), params)
        assert after.frame_num == (before.frame_num - 3) % 16
        assert before.poc_lsb is not None
        assert after.poc_lsb == (before.poc_lsb - 10) % 64
        assert (after.slice_type, after.mmcos, after.end) == (
            before.slice_type,
            before.mmcos,
            before.end,
        )


def test_renumbering_drops_unmarking_of_pictures_before_the_idr(
    stream: tuple[ParamSets, avc.AvcConfig, list[list[bytes]]],
) -> None:
    params, _, samples = stream
    marked = [
        nal
        for sample in samples
        for nal in sample
        if nal[0] & 0x1F == 1 and parse_header(nal, params).mmcos
    ]
    assert marked  # x264's B-pyramid unmarks its reference B-frames explicitly
    for nal in marked:
        header = parse_header(nal, params)
        # With the IDR at this picture's own frame_num, every operation names a picture before it.
        rewritten = renumbered(parse_slice(nal, params), header.frame_num, 0, 0).apply(nal)
        assert parse_header(rewritten, params).mmcos == ()
        assert parse_header(rewritten, params).frame_num == 0


def _references(header: SliceHeader) -> tuple[object, ...]:
    return (header.frame_num, header.modifications, header.mmcos, header.slice_type)


def test_new_frame_num_list_modifications_and_marking_read_back_as_written(
    stream: tuple[ParamSets, avc.AvcConfig, list[list[bytes]]],
) -> None:
    params, _, samples = stream
    non_idr = [nal for sample in samples for nal in sample if nal[0] & 0x1F == 1]
    changed = 0
    for nal in non_idr:
        parsed = parse_slice(nal, params)
        header = parsed.header
        assert with_references(parsed, header).apply(nal) == nal
        if header.slice_type == 2:  # I: no lists
            continue
        modified = (((0, 2), (1, 0)), header.modifications[1])
        mmcos = (Mmco(1, (4,)),) if header.is_reference else None
        new = replace(header, frame_num=(header.frame_num + 5) % 16, modifications=modified,
                      mmcos=mmcos)  # fmt: skip
        back = parse_header(with_references(parsed, new).apply(nal), params)
        assert _references(back) == _references(new)
        # Everything after the header is untouched: the header's tail ends the same
        # number of bits after the marking.
        assert back.end - back.marking_span[1] == header.end - header.marking_span[1]
        changed += 1
    assert changed > 40


def test_an_open_gop_keyframe_becomes_an_idr_with_the_same_slice_data(
    stream: tuple[ParamSets, avc.AvcConfig, list[list[bytes]]],
) -> None:
    params, _, samples = stream
    keyframes = [s for s in samples[1:] if parse_header(s[0], params).slice_type == 2]
    assert keyframes  # open GOP: I pictures that are not IDR
    for sample in keyframes:
        for nal in sample:
            assert nal[0] & 0x1F == 1
            idr = to_idr(parse_slice(nal, params), 1).apply(nal)
            header = parse_header(idr, params)
            assert header.nal_type == NAL_IDR
            assert (header.frame_num, header.poc_lsb, header.idr_pic_id) == (0, 0, 1)
            assert header.nal_header & 0x60 == nal[0] & 0x60
            # Only the header changed: a few bits more or fewer.
            assert abs(len(idr) - len(nal)) <= 4
            assert idr[-16:] == nal[-16:] or not params[header.pps_id][0].entropy_coding_mode


def test_the_clip_sps_allows_frame_num_gaps_and_nothing_else_changes(
    stream: tuple[ParamSets, avc.AvcConfig, list[list[bytes]]],
) -> None:
    _, config, _ = stream
    sps = config.sps[0]
    before, after = parse_sps(sps), parse_sps(with_frame_num_gaps(sps))
    assert not before.gaps_allowed
    assert len(with_frame_num_gaps(sps)) == len(sps)
    assert after == replace(before, gaps_allowed=True)
    assert with_frame_num_gaps(with_frame_num_gaps(sps)) == with_frame_num_gaps(sps)


def test_an_interlaced_open_gop_source_keeps_whole_re_encodes(ffmpeg: str, tmp_path: Path) -> None:
    path = _x264(ffmpeg, tmp_path / "mbaff.mp4", "-x264-params", "open-gop=1:interlaced=1")
    config, _ = _slices_of(path)
    with pytest.raises(SmartCutUnsupported, match="interlaced"):
        parameter_sets(config)
    told = assess_source(f"file:{path}", "test", tmp_path / "spool")
    assert told.precision == "smart"
    assert told.reason is not None
    assert told.reason.startswith("open GOP (keyframes are not IDR pictures) with interlaced")
    assert "re-encoded whole" in told.reason
