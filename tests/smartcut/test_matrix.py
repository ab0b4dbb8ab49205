"""The smart cut on the matrix (tests/matrix.py), clip by clip, through a real server.

For every clip: exactly the source's frames over [start, end), at the
source's times; the copied ones bit-identical, the re-encoded ones at
PSNR >= 40 dB; nothing hidden behind an edit list; a keyframe at time 0;
audio as long as video.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SmartMatrix
from tests.matrix import SOURCES, MatrixClip, MatrixSource
from tests.mediacheck import (
    first_packet_is_key,
    frame_hashes_ignoring_edit_lists,
    frame_psnr,
    keyframe_times,
    sequence_parameter_sets,
    stream_durations,
    timed_frame_hashes,
)

MIN_PSNR_DB = 40.0
CLIPS_PER_SOURCE = 6  # five cuts per source (tests/matrix.py)


def fetch(matrix: SmartMatrix, clip: MatrixClip, folder: Path) -> Path:
    with matrix.server.client() as http:
        answer = http.get(clip.clip["url"], timeout=120)
    assert answer.status_code == 200, answer.text
    out = folder / f"clip-{clip.clip['id']}.mp4"
    out.write_bytes(answer.content)
    return out


def test_the_matrix_has_every_case(smart_matrix: SmartMatrix) -> None:
    assert len(smart_matrix.clips) == len(SOURCES) * CLIPS_PER_SOURCE


@pytest.mark.parametrize("index", range(len(SOURCES) * CLIPS_PER_SOURCE))
def test_clip_is_frame_exact(
    smart_matrix: SmartMatrix, ffmpeg: str, tmp_path: Path, index: int
) -> None:
    clip = smart_matrix.clips[index]
    out = fetch(smart_matrix, clip, tmp_path)
    source_frames = timed_frame_hashes(ffmpeg, clip.path)
    origin = source_frames[0][0]
    wanted = [
        (n, t - origin, md5)
        for n, (t, md5) in enumerate(source_frames)
        if clip.start <= t - origin < clip.end
    ]
    got = timed_frame_hashes(ffmpeg, out)

    # Exactly the source's frames, each at its source time (relative to the first).
    assert len(got) == len(wanted), clip.id
    first_time = wanted[0][1]
    assert [t for t, _ in got] == [t - first_time for _, t, _ in wanted], clip.id
    assert got[0][0] == 0
    assert first_packet_is_key(ffmpeg, out)

    # Copied frames are the source's bits; the rest are close to them.
    identical = [g[1] == w[2] for g, w in zip(got, wanted, strict=True)]
    psnr = frame_psnr(ffmpeg, out, clip.path, wanted[0][0], len(wanted))
    assert len(psnr) == len(wanted)
    for n, same in enumerate(identical):
        if not same:
            assert psnr[n] >= MIN_PSNR_DB, (clip.id, n, psnr[n])
    # On a closed-GOP source, everything from the first keyframe in the clip is
    # copied, but for a tail of at most one mini-GOP (x264: 3 B-frames + anchor).
    keys = [k - origin for k in keyframe_times(ffmpeg, clip.path)]
    inside = [k for k in keys if clip.start <= k < clip.end]
    if inside and "open-gop" not in clip.source:
        first_copied = next(n for n, (_, t, _) in enumerate(wanted) if t == inside[0])
        copied = identical[first_copied:]
        assert all(copied[: max(0, len(copied) - 4)]), (clip.id, copied)

    # No edit list hides anything: ignoring them gives the same frames.
    assert frame_hashes_ignoring_edit_lists(ffmpeg, out) == [md5 for _, md5 in got]

    durations = stream_durations(ffmpeg, out)
    assert abs(durations["audio"] - durations["video"]) <= 0.05, (clip.id, durations)


#: SPS fields that must agree between the source's and the re-encoded frames':
#: profile and level, picture format and size, aspect ratio, colour, timing.
SAME_SPS_FIELDS = (
    "profile_idc", "level_idc", "chroma_format_idc", "bit_depth_luma_minus8",
    "pic_width_in_mbs_minus1", "pic_height_in_map_units_minus1", "frame_mbs_only_flag",
    "frame_cropping_flag", "frame_crop_bottom_offset", "aspect_ratio_idc", "sar_width",
    "sar_height", "video_full_range_flag", "colour_primaries", "transfer_characteristics",
    "matrix_coefficients", "num_units_in_tick", "time_scale",
)  # fmt: skip


@pytest.mark.parametrize("spec", SOURCES, ids=[s.name for s in SOURCES])
def test_re_encoded_frames_describe_themselves_like_the_source(
    smart_matrix: SmartMatrix, ffmpeg: str, tmp_path: Path, spec: MatrixSource
) -> None:
    name = spec.name
    # The clip that starts mid-GOP: a re-encoded head, then (closed GOP) copied frames.
    clip = [c for c in smart_matrix.clips if c.source == name][3]
    out = fetch(smart_matrix, clip, tmp_path)
    [source_sps] = sequence_parameter_sets(ffmpeg, clip.path).values()
    output_sps = sequence_parameter_sets(ffmpeg, out)
    assert len(output_sps) >= 2, output_sps.keys()  # the source's and the encoder's
    for sps_id, fields in output_sps.items():
        for field in SAME_SPS_FIELDS:
            assert fields.get(field) == source_sps.get(field), (name, sps_id, field)
