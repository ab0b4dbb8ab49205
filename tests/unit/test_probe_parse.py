from fractions import Fraction

import pytest

from pool.sources.probe import ProbeResult, _clockwise, _parse_framecrc

FRAMECRC = """#extradata 0:       45, 0x2ad20e42
#tb 0: 1/15360
#media_type 0: video
#codec_id 0: h264
#dimensions 0: 640x360
#sar 0: 1/1
#tb 1: 1/48000
#media_type 1: audio
#codec_id 1: aac
0,      -1024,          0,      512,     8120, 0x3ec65327
0,       -512,       1536,      512,     4067, 0x91ebd49d, F=0x0
1,      -1024,      -1024,     1024,      390, 0x420fcfd0, F=0x5, S=1
0,          0,        512,      512,     2465, 0x7088b077, F=0x0
0,      29696,      30720,      512,     9675, 0xb13fe66c
0,      29697,      30721,      512,     9675, 0xb13fe66c, F=0x4
"""


def test_headers_and_keyframe_flags() -> None:
    streams, packets = _parse_framecrc(FRAMECRC)
    assert streams[0].codec == "h264"
    assert streams[0].dimensions == (640, 360)
    assert streams[0].time_base.denominator == 15360
    assert streams[1].media_type == "audio"
    video = [p for p in packets if p[0] == 0]
    assert [(pts, key) for _, pts, _, key in video] == [
        (0, True),  # no F= field: a keyframe
        (1536, False),
        (512, False),
        (30720, True),
        (30721, False),  # F=0x4 (discard) without the key bit
    ]
    audio = [p for p in packets if p[0] == 1]
    assert audio == [(1, -1024, 1024, True)]  # F=0x5 has the key bit


PORTRAIT = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'phone.mov':
  Stream #0:0[0x1]: Video: h264 (Constrained Baseline) (avc1 / 0x31637661), yuv420p, 320x180
      Side data:
        Display Matrix: rotation of -90.00 degrees
  Stream #0:1[0x2]: Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp
"""


@pytest.mark.parametrize(
    ("angle", "clockwise"), [("-90.00", 90), ("90.00", 270), ("-180.00", 180), ("180.00", 180)]
)
def test_display_rotation_is_read_clockwise(angle: str, clockwise: int) -> None:
    assert _clockwise(PORTRAIT.replace("-90.00", angle)) == clockwise


def test_no_display_matrix_is_no_rotation() -> None:
    assert _clockwise(PORTRAIT.replace("Display Matrix: rotation of -90.00 degrees", "")) == 0


@pytest.mark.parametrize(
    ("rotation", "aspect", "size"),
    [(0, Fraction(1), (320, 180)), (90, Fraction(1), (180, 320)), (0, Fraction(4, 3), (427, 180))],
)
def test_display_size_applies_the_pixel_aspect_then_the_rotation(
    rotation: int, aspect: Fraction, size: tuple[int, int]
) -> None:
    facts = ProbeResult(
        duration=1.0, container="mov,mp4,m4a,3gp,3g2,mj2", video_codec="h264", audio_codec=None,
        width=320, height=180, frame_count=30, keyframes=(0.0,), rotation=rotation,
        sample_aspect=aspect,
    )  # fmt: skip
    assert facts.display_size == size
