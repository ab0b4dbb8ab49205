"""Which source samples a re-encoded segment's decoder reads, on real x264 output.

The decoder input leaves out the pictures shown before the segment that no
other picture refers to; everything else from the keyframe on stays. Checked
against the NAL headers read here, and by decoding the input: it must give
exactly the source's frames of the segment.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import pytest

from pool.cutting.smart_plan import CutPlan, Reencode, plan_cut
from pool.cutting.source_samples import CutSource, h264_track
from pool.mp4.index import read_movie
from pool.mp4.samples import Sample
from pool.sources.reader import LocalReader
from tests.mediacheck import frame_hashes

FPS = 30
GOP = 60  # frames: a keyframe every 2 s
#: x264's b-pyramid: none (every B-frame unreferenced), strict, normal.
PYRAMIDS = ("none", "strict", "normal")


@pytest.fixture(scope="module", params=PYRAMIDS)
def source(
    request: pytest.FixtureRequest, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """4 s of 320x240 x264 with three B-frames in every mini-GOP (b-adapt off)."""
    path = tmp_path_factory.mktemp("decoder-input") / f"pyramid-{request.param}.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}",
         "-t", "4", "-c:v", "libx264", "-preset", "veryfast", "-g", str(GOP),
         "-x264-params", f"scenecut=0:bframes=3:b-adapt=0:b-pyramid={request.param}",
         str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture
def cut_source(source: Path) -> Iterator[CutSource]:
    reader = LocalReader(source)
    try:
        video, config = h264_track(read_movie(reader.read_at, reader.size))
        yield CutSource(reader, video, None, config, {})
    finally:
        reader.close()


def plan(cut: CutSource, start: Fraction, end: Fraction) -> CutPlan:
    return plan_cut(cut.video.samples, cut.video.timescale, start, end, cut.is_idr)


def refers(source: Path, sample: Sample) -> bool:
    """Whether the sample's first slice has a nonzero nal_ref_idc, read from its bytes."""
    with source.open("rb") as f:
        f.seek(sample.offset)
        data = f.read(sample.size)
    pos = 0
    while pos < len(data):
        size, header = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4]
        if header & 0x1F in (1, 5):  # a slice
            return bool(header & 0x60)
        pos += 4 + size
    raise AssertionError("no slice in the sample")


def presentation_ranks(samples: Sequence[Sample]) -> list[int]:
    """Each sample's place in presentation order."""
    order = sorted(range(len(samples)), key=lambda i: samples[i].pts)
    ranks = [0] * len(samples)
    for rank, index in enumerate(order):
        ranks[index] = rank
    return ranks


def segment_frames(ffmpeg: str, cut: CutSource, part: Reencode, work: Path) -> list[str]:
    """md5 of the frames the segment's decoder input gives, selected as the encode run selects."""
    names = iter(("input.mp4", "encoded.mp4"))

    def work_file() -> Path:
        path = work / next(names)
        path.touch()
        return path

    segment = cut.decoder_input(part, 5, work_file)
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-copyts", "-i", str(segment.decoder_input), "-map", "0:v:0",
         "-vf", f"trim=start_pts={segment.first_pts}:end_pts={segment.end_pts}",
         "-fps_mode", "passthrough", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [line.rsplit(",", 1)[1].strip() for line in out.stdout.splitlines() if line[0] != "#"]


# [1.5 s, 3 s): a head from 1.5 s to the keyframe at 2 s, and a tail: frame 89 is a
# B-frame whose later reference (frame 92) is shown after the clip.
START, END = Fraction(3, 2), Fraction(3)


def test_the_head_keeps_its_frames_and_every_reference_and_nothing_else(
    source: Path, cut_source: CutSource
) -> None:
    head = plan(cut_source, START, END).head
    assert head is not None
    samples = cut_source.video.samples
    kept = cut_source.decoded_samples(head)
    decoded = range(head.decode_from, head.decode_to)
    assert kept == sorted(kept)
    assert set(kept) <= set(decoded)
    assert set(head.frames) <= set(kept)
    first_shown = samples[head.frames[0]].pts
    for i in decoded:
        if refers(source, samples[i]):
            assert i in kept, i
        elif i not in kept:
            assert samples[i].pts < first_shown, i
    dropped = len(decoded) - len(kept)
    # Two of every mini-GOP's three B-frames before 1.5 s at least, all three without a pyramid.
    assert dropped >= 2 * (45 // 4)


def test_reference_b_frames_before_the_head_are_kept(source: Path, cut_source: CutSource) -> None:
    # They are needed: with b-pyramid=normal, x264's P-frames refer to them too (left
    # out, the head decodes wrong; measured). Only their own mini-GOP's do with strict.
    head = plan(cut_source, START, END).head
    assert head is not None
    samples = cut_source.video.samples
    kept = cut_source.decoded_samples(head)
    first_shown = samples[head.frames[0]].pts
    # A reference decoded after a picture it is shown before: a B-frame others refer to.
    reference_b = [
        i
        for n, i in enumerate(kept)
        if samples[i].pts < first_shown
        and samples[i].pts < max(samples[j].pts for j in kept[: n + 1])
    ]
    if source.stem == "pyramid-none":
        assert reference_b == []
    else:
        assert reference_b, "b-pyramid: the middle B-frame of each mini-GOP is a reference"
        assert all(refers(source, samples[i]) for i in reference_b)


def test_decoding_the_input_gives_exactly_the_segment_frames(
    ffmpeg: str, source: Path, cut_source: CutSource, tmp_path: Path
) -> None:
    cut = plan(cut_source, START, END)
    assert cut.head is not None
    assert cut.tail is not None
    every_frame = frame_hashes(ffmpeg, source)
    ranks = presentation_ranks(cut_source.video.samples)
    for name, part in (("head", cut.head), ("tail", cut.tail)):
        work = tmp_path / name
        work.mkdir()
        got = segment_frames(ffmpeg, cut_source, part, work)
        assert got == [every_frame[ranks[i]] for i in part.frames], name
