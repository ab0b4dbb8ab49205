"""Every corpus source by every cut case, checked the way a player would see the clip.

A clip [start, end) must show exactly the source frames presented in
[start, end), each at its source time minus ``start``, in the source's coded
size and orientation; copied frames bit for bit, re-encoded ones close
(PSNR >= 40 dB); the source's audio packets at the same times; and last
exactly ``end - start``. Together a source's clips show each of its frames
exactly once.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import pytest

from pool.mp4.boxes import Box, file_reader, read_moov
from pool.mp4.index import handler_of, movie_timescale_of
from tests.corpus.matrix import CASES, Corpus, CorpusClip
from tests.corpus.recipes import RECIPES
from tests.mediacheck import (
    decoded_frames,
    decoder_complaints,
    display_rotation,
    frame_hashes_ignoring_edit_lists,
    frame_psnr,
    packets,
    sequence_parameter_sets,
)

MIN_PSNR_DB = 40.0
#: Clip and source times agree to within a millisecond (track ticks and the
#: database's microseconds do not always divide each other).
TIME_TOLERANCE = Fraction(1, 1000)
#: Audio is copied in whole AAC frames (about 21 ms): how far its ends may reach.
AUDIO_SLACK = Fraction(5, 100)

CLIPS = [(recipe.name, case) for recipe in RECIPES for case in range(len(CASES))]
IDS = [f"{name}-{CASES[case].replace(' ', '-')}" for name, case in CLIPS]


def corpus_clip(corpus: Corpus, name: str, case: int) -> CorpusClip:
    return CorpusClip(corpus.sources[name], case)


@pytest.mark.parametrize(("name", "case"), CLIPS, ids=IDS)
def test_clip_shows_exactly_the_source_frames_of_its_span(
    corpus: Corpus, ffmpeg: str, name: str, case: int
) -> None:
    clip = corpus_clip(corpus, name, case)
    where = str(clip)
    path = corpus.clip_file(clip.clip)
    want = clip.frames
    got = decoded_frames(ffmpeg, path)

    assert len(got) == len(want), where
    for shown, source in zip(got, want, strict=True):
        assert abs(shown.time - (source.time - clip.start)) <= TIME_TOLERANCE, (where, shown)
        assert shown.size == source.size, (where, shown)

    same = [g.md5 == w.md5 for g, w in zip(got, want, strict=True)]
    if clip.source.recipe.precision != "smart":
        assert all(same), (where, "an edit-list clip copies every frame")
    else:
        # Nothing hidden behind an edit list (Firefox would show it): ignoring
        # them gives the same frames.
        assert frame_hashes_ignoring_edit_lists(ffmpeg, path) == [g.md5 for g in got], where
    if not all(same):
        first = clip.source.frames.index(want[0])
        psnr = frame_psnr(ffmpeg, path, clip.source.path, first, len(want))
        assert len(psnr) == len(want), where
        worst = min(p for p, identical in zip(psnr, same, strict=True) if not identical)
        assert worst >= MIN_PSNR_DB, (where, worst)


OPEN_GOP = [(name, case) for name, case in CLIPS if "open-gop" in name]
#: B-frames at most before a keyframe: a clip's tail re-encodes no more of them.
MAX_BFRAMES = 3


@pytest.mark.parametrize(("name", "case"), OPEN_GOP, ids=[f"{n}-{c}" for n, c in OPEN_GOP])
def test_an_open_gop_clip_is_copied_from_its_first_keyframe(
    corpus: Corpus, ffmpeg: str, name: str, case: int
) -> None:
    clip = corpus_clip(corpus, name, case)
    where = str(clip)
    want = clip.frames
    path = corpus.clip_file(clip.clip)
    got = decoded_frames(ffmpeg, path)
    # A conforming stream: e.g. no memory management naming pictures from before the IDR.
    assert decoder_complaints(ffmpeg, path) == "", where
    keyframes = [k for k in clip.source.keyframes if want[0].time <= k <= want[-1].time]
    reencoded = sum(g.md5 != w.md5 for g, w in zip(got, want, strict=True))
    if not keyframes:
        return  # nothing to copy from: the clip is one re-encoded segment
    # The head (up to the keyframe, its leading B-frames included) and at most a tail of
    # the next keyframe's leading B-frames are re-encoded; everything between is copied.
    head = sum(f.time < keyframes[0] for f in want)
    assert reencoded <= head + MAX_BFRAMES, (where, reencoded, head)
    assert len(want) - reencoded >= len(want) - head - MAX_BFRAMES > 0, where


@pytest.mark.parametrize(("name", "case"), CLIPS, ids=IDS)
def test_clip_audio_is_the_source_audio_of_its_span(
    corpus: Corpus, ffmpeg: str, name: str, case: int
) -> None:
    clip = corpus_clip(corpus, name, case)
    where = str(clip)
    path = corpus.clip_file(clip.clip)
    source = packets(ffmpeg, clip.source.path, "a:0")
    got = packets(ffmpeg, path, "a:0")
    if not source:
        assert not got, where
        return
    by_crc = {p.crc: p for p in source}
    for packet in got:
        assert packet.crc in by_crc, (where, "audio not copied from the source", packet)
        original = by_crc[packet.crc]
        assert abs(packet.time - (original.time - clip.start)) <= TIME_TOLERANCE, (where, packet)
    # It covers the clip's span as far as the source has audio there.
    audio_from = max(source[0].time, clip.start) - clip.start
    audio_to = min(source[-1].time + source[-1].duration, clip.end) - clip.start
    assert max(got[0].time, Fraction(0)) <= audio_from + AUDIO_SLACK, where
    assert got[-1].time + got[-1].duration >= audio_to - AUDIO_SLACK, where


def _movie(path: Path) -> tuple[Fraction, dict[bytes, Fraction]]:
    """The movie's duration and each track's presentation length, in seconds."""
    moov = read_moov(*file_reader(path))
    scale = movie_timescale_of(moov)

    def duration(box: Box, v0: int, v1: int) -> Fraction:
        fmt, at = (">Q", v1) if box.version == 1 else (">I", v0)
        return Fraction(struct.unpack_from(fmt, box.payload, at)[0], scale)

    tracks = {handler_of(t): duration(t.require(b"tkhd"), 20, 28) for t in moov.find_all(b"trak")}
    return duration(moov.require(b"mvhd"), 16, 24), tracks


@pytest.mark.parametrize(("name", "case"), CLIPS, ids=IDS)
def test_clip_lasts_exactly_its_span_and_keeps_the_rotation(
    corpus: Corpus, ffmpeg: str, name: str, case: int
) -> None:
    clip = corpus_clip(corpus, name, case)
    where = str(clip)
    path = corpus.clip_file(clip.clip)
    length = clip.end - clip.start
    duration, tracks = _movie(path)
    assert abs(duration - length) <= TIME_TOLERANCE, (where, float(duration))
    assert abs(tracks[b"vide"] - length) <= TIME_TOLERANCE, (where, float(tracks[b"vide"]))
    assert all(t <= length + TIME_TOLERANCE for t in tracks.values()), (where, tracks)
    assert display_rotation(ffmpeg, path) == display_rotation(ffmpeg, clip.source.path)


@pytest.mark.parametrize("name", [r.name for r in RECIPES])
def test_clips_together_show_every_source_frame_once(
    corpus: Corpus, ffmpeg: str, name: str
) -> None:
    source = corpus.sources[name]
    shown: list[Fraction] = []
    for clip in source.clips:
        start = Fraction(str(clip["start"]))
        shown += [f.time + start for f in decoded_frames(ffmpeg, corpus.clip_file(clip))]
    wanted = [f.time for f in source.frames if f.time >= 0]
    assert len(shown) == len(wanted), name
    assert all(abs(a - b) <= TIME_TOLERANCE for a, b in zip(sorted(shown), wanted, strict=True))


#: SPS fields that must agree between the source's and the re-encoded frames':
#: profile and level, picture format and size, aspect ratio, colour, timing.
SAME_SPS_FIELDS = (
    "profile_idc", "level_idc", "chroma_format_idc", "bit_depth_luma_minus8",
    "pic_width_in_mbs_minus1", "pic_height_in_map_units_minus1", "frame_mbs_only_flag",
    "frame_cropping_flag", "frame_crop_bottom_offset", "aspect_ratio_idc", "sar_width",
    "sar_height", "video_full_range_flag", "colour_primaries", "transfer_characteristics",
    "matrix_coefficients", "num_units_in_tick", "time_scale",
)  # fmt: skip
SMART = [recipe.name for recipe in RECIPES if recipe.precision == "smart"]


@pytest.mark.parametrize("name", SMART)
def test_re_encoded_frames_describe_themselves_like_the_source(
    corpus: Corpus, ffmpeg: str, name: str
) -> None:
    # The clip that starts mid-GOP: a re-encoded head (then copied frames).
    clip = CorpusClip(corpus.sources[name], CASES.index("keyframe inside"))
    out = corpus.clip_file(clip.clip)
    source_sets = sequence_parameter_sets(ffmpeg, clip.source.path).values()
    output_sets = sequence_parameter_sets(ffmpeg, out)
    assert len(output_sets) >= 2, output_sets.keys()  # the source's and the encoder's
    # A field the source leaves out (no timing, no colour) may be stated by
    # the encoder; an absent aspect ratio means square pixels.
    square = {"aspect_ratio_idc": 1}
    for sps_id, fields in output_sets.items():
        for field in SAME_SPS_FIELDS:
            wanted = {s.get(field, square.get(field)) for s in source_sets} - {None}
            if wanted:
                assert fields.get(field, square.get(field)) in wanted, (name, sps_id, field)
