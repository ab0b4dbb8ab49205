from pool.probe import _parse_framecrc

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
