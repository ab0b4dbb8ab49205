"""Which source samples a re-encoded segment's decoder reads, on real x264 output.

The decoder input leaves out the pictures shown before the segment that no
other picture refers to, and the reference B-frames (x264's B-pyramid) that
none of the segment's frames needs, renumbering the slices after them.
Checked against the NAL headers read here, and by decoding the input: it
must give exactly the source's frames of the segment, with nothing for
ffmpeg to complain about.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import pytest

from pool.cutting.decoder_input import decoded_samples, write_decoder_input
from pool.cutting.smart_plan import CutPlan, Reencode, plan_cut
from pool.cutting.source_samples import CutSource, h264_track
from pool.mp4.index import read_movie
from pool.mp4.samples import Sample
from pool.sources.reader import LocalReader
from tests.mediacheck import frame_hashes

FPS = 30
GOP = 60  # frames: a keyframe every 2 s
#: x264's b-pyramid: none (every B-frame unreferenced), strict, normal; normal with CAVLC
#: and three slices a picture (rewritten slice headers change length: CAVLC data is
#: shifted, and each slice has its own lists); normal with three reference frames.
SOURCES = {
    "pyramid-none": "b-pyramid=none",
    "pyramid-strict": "b-pyramid=strict",
    "pyramid-normal": "b-pyramid=normal",
    "pyramid-normal-cavlc-slices": "b-pyramid=normal:cabac=0:slices=3",
    "pyramid-normal-ref3": "b-pyramid=normal:ref=3",
}


@pytest.fixture(scope="module", params=sorted(SOURCES))
def source(
    request: pytest.FixtureRequest, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """4 s of 320x240 x264 with three B-frames in every mini-GOP (b-adapt off)."""
    path = tmp_path_factory.mktemp("decoder-input") / f"{request.param}.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}",
         "-t", "4", "-c:v", "libx264", "-preset", "veryfast", "-g", str(GOP),
         "-x264-params", f"scenecut=0:bframes=3:b-adapt=0:{SOURCES[request.param]}",
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

    segment = write_decoder_input(cut, part, 5, work_file)
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-copyts", "-i", str(segment.decoder_input), "-map", "0:v:0",
         "-vf", f"trim=start_pts={segment.first_pts}:end_pts={segment.end_pts}",
         "-fps_mode", "passthrough", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stderr == ""
    return [line.rsplit(",", 1)[1].strip() for line in out.stdout.splitlines() if line[0] != "#"]


# [1.5 s, 3 s): a head from 1.5 s to the keyframe at 2 s, and a tail: frame 89 is a
# B-frame whose later reference (frame 92) is shown after the clip.
START, END = Fraction(3, 2), Fraction(3)


def kept_samples(cut: CutSource, part: Reencode) -> list[int]:
    return [i for i, _ in decoded_samples(cut, part)]


def reference_b_frames(source: Path, samples: Sequence[Sample], indices: Sequence[int]) -> set[int]:
    """The references among ``indices`` (decode order) shown before one decoded ahead of them."""
    return {
        i
        for n, i in enumerate(indices)
        if n
        and samples[i].pts < max(samples[j].pts for j in indices[:n])
        and refers(source, samples[i])
    }


def test_the_head_keeps_its_frames_every_p_frame_and_no_unreferenced_picture(
    source: Path, cut_source: CutSource
) -> None:
    head = plan(cut_source, START, END).head
    assert head is not None
    samples = cut_source.video.samples
    kept = kept_samples(cut_source, head)
    decoded = range(head.decode_from, head.decode_to)
    assert kept == sorted(kept)
    assert set(kept) <= set(decoded)
    assert set(head.frames) <= set(kept)
    first_shown = samples[head.frames[0]].pts
    pyramid = reference_b_frames(source, samples, list(decoded))
    for i in decoded:
        if refers(source, samples[i]) and i not in pyramid:
            assert i in kept, i  # the chain of P-frames (and the IDR) from the keyframe
        elif i not in kept:
            assert samples[i].pts < first_shown, i
    # Two of every mini-GOP's three B-frames before 1.5 s at least, all three without a pyramid.
    assert len(decoded) - len(kept) >= 2 * (45 // 4)


def test_reference_b_frames_nothing_needs_are_left_out(source: Path, cut_source: CutSource) -> None:
    # With one reference frame, x264's P-frames refer to the P-frame before them only
    # (one active reference, listed first by a modification), so a mini-GOP's reference
    # B-frame serves its own B-frames: before the head, none is needed.
    cut = plan(cut_source, START, END)
    assert cut.head is not None
    samples = cut_source.video.samples
    decoded = list(range(cut.head.decode_from, cut.head.decode_to))
    first_shown = samples[cut.head.frames[0]].pts
    before = {
        i for i in reference_b_frames(source, samples, decoded) if samples[i].pts < first_shown
    }
    kept = set(kept_samples(cut_source, cut.head))
    if source.stem == "pyramid-none":
        assert before == set()
    elif source.stem.endswith("-ref3"):
        # Three active references: the P-frames' lists name reference B-frames.
        assert before
        assert before <= kept
    else:
        assert before, "b-pyramid: the middle B-frame of each mini-GOP is a reference"
        # The last one or two stay when the head's own B-frames would see them missing.
        assert len(before & kept) <= 2, sorted(before & kept)


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
