"""The source corpus: short videos made the way users' files are made, by several tools.

Each recipe is a list of shell pipelines (GStreamer fed raw frames by
ffmpeg's test pattern, or ffmpeg itself) plus, for phone-style rotation, a
display matrix written into the video track's ``tkhd``. Pictures come from
ffmpeg's ``testsrc2`` (every frame differs, so a wrong frame is visible);
the encoders and muxers are the ones named in the recipe.

Making the files is tests/corpus/generate.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

GST = "gst-launch-1.0"
Pipeline = tuple[tuple[str, ...], ...]  # processes, each one's stdout feeding the next


@dataclass(frozen=True)
class Recipe:
    """How to make one corpus source, and what the origin should make of it."""

    name: str
    tool: str  # who muxed (and mostly encoded) it
    exercises: str  # what it tests, in a few words
    pipelines: tuple[Pipeline, ...]  # "{ffmpeg}", "{out}", "{work}" are filled in
    suffix: str = ".mp4"
    #: The smart cut serves it, or the reason it falls back to the edit list.
    precision: str = "smart"
    rotation: int = 0  # display rotation (clockwise degrees) patched into tkhd
    audio: bool = True
    #: Why a browser cannot play it (its clips are not checked in that browser).
    unplayable_in: dict[str, str] = field(default_factory=dict)

    def key(self, versions: str) -> str:
        """A name that changes with anything that changes the file."""
        material = json.dumps([self.pipelines, self.rotation, versions])
        return f"{self.name}-{hashlib.sha256(material.encode()).hexdigest()[:12]}{self.suffix}"


def _raw_frames(size: str, rate: str, seconds: float) -> tuple[str, ...]:
    """ffmpeg writing ``testsrc2`` as raw I420 frames to stdout (for GStreamer)."""
    return (
        "{ffmpeg}", "-nostdin", "-v", "error", "-f", "lavfi",
        "-i", f"testsrc2=size={size}:rate={rate}", "-t", str(seconds),
        "-pix_fmt", "yuv420p", "-f", "rawvideo", "pipe:1",
    )  # fmt: skip


def _gst(size: str, rate: str, encoder: str, mux: str, audio_s: float | None) -> tuple[str, ...]:
    """gst-launch reading raw frames from stdin: ``encoder`` and ``mux`` as GStreamer syntax."""
    width, height = size.split("x")
    pipeline = (
        f"fdsrc fd=0 ! rawvideoparse width={width} height={height} format=i420 "
        f"framerate={rate} ! {encoder} ! h264parse ! {mux} name=m ! filesink location={{out}}"
    )
    if audio_s is not None:
        buffers = int(audio_s * 44100 / 1024) + 1
        pipeline += (
            f" audiotestsrc num-buffers={buffers} wave=white-noise ! audioconvert ! voaacenc"
            " ! aacparse ! m."
        )
    return (GST, "-q", "-e", *pipeline.split())


def _ffmpeg(
    size: str,
    rate: str,
    seconds: float,
    video: tuple[str, ...],
    *,
    audio: bool = True,
    extra: tuple[str, ...] = (),
    out: str = "{out}",
    video_input: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """ffmpeg encoding ``testsrc2`` (and a sine on AAC) with ``video`` codec options."""
    argv = [
        "{ffmpeg}", "-nostdin", "-v", "error", "-y",
        *video_input, "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}",
    ]  # fmt: skip
    if audio:
        # A chirp: no two audio frames alike, so a misplaced one cannot pass for another.
        chirp = f"aevalsrc=sin(2*PI*(300+150*t)*t):s=48000:d={seconds}"
        argv += ["-f", "lavfi", "-i", chirp]
        argv += ["-map", "0:v", "-map", "1:a", "-c:a", "aac", "-b:a", "96k"]
    argv += [*video, *extra, out]
    return tuple(argv)


X264_B = ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p")


def _gop(frames: int) -> tuple[str, ...]:
    return ("-g", str(frames), "-keyint_min", str(frames), "-x264-params", "scenecut=0")


def _open_gop_32(x264_params: str, *options: str) -> tuple[str, ...]:
    """x264 open GOP, 3 B-frames, a keyframe every 32 frames: each after a full mini-GOP."""
    return (
        *X264_B, "-g", "32", "-bf", "3", *options,
        "-x264-params", f"open-gop=1:scenecut=0:b-adapt=0{x264_params}",
    )  # fmt: skip


RECIPES: tuple[Recipe, ...] = (
    # -- GStreamer's encoders and muxers -------------------------------------
    Recipe(
        "gst-x264-mp4mux",
        "GStreamer x264enc + voaacenc + mp4mux",
        "B-frames, GStreamer's edit list and interleaving, index first",
        (
            (
                _raw_frames("320x240", "30", 4),
                _gst(
                    "320x240",
                    "30/1",
                    "x264enc key-int-max=30 bframes=3",
                    "mp4mux faststart=true",
                    4,
                ),
            ),
        ),
    ),
    Recipe(
        "gst-x264-qtmux",
        "GStreamer x264enc + voaacenc + qtmux",
        "QuickTime .mov, 25 fps, 2 B-frames",
        (
            (
                _raw_frames("320x240", "25", 4),
                _gst("320x240", "25/1", "x264enc key-int-max=25 bframes=2", "qtmux", 4),
            ),
        ),
        suffix=".mov",
    ),
    Recipe(
        "gst-openh264-mp4mux",
        "GStreamer openh264enc + voaacenc + mp4mux",
        "Cisco's encoder (baseline, no B-frames), index at the end",
        (
            (
                _raw_frames("320x240", "30", 4),
                _gst("320x240", "30/1", "openh264enc gop-size=30", "mp4mux", 4),
            ),
        ),
    ),
    Recipe(
        "gst-x264-open-gop",
        "GStreamer x264enc open-gop + voaacenc + mp4mux",
        "open GOP from another wrapper and muxer: SPS/PPS repeated in each keyframe",
        (
            (
                _raw_frames("320x240", "30", 4),
                _gst(
                    "320x240",
                    "30/1",
                    "x264enc key-int-max=30 bframes=3 b-pyramid=true "
                    "option-string=open-gop=1:scenecut=0",
                    "mp4mux faststart=true",
                    4,
                ),
            ),
        ),
    ),
    Recipe(
        "gst-x264-fragmented",
        "GStreamer x264enc + voaacenc + mp4mux fragment-duration",
        "fragmented MP4, first frame at 0.0667 s (no edit list)",
        (
            (
                _raw_frames("320x240", "30", 4),
                _gst(
                    "320x240",
                    "30/1",
                    "x264enc key-int-max=30 bframes=3",
                    "mp4mux fragment-duration=1000",
                    4,
                ),
            ),
        ),
        precision="container",
    ),
    Recipe(
        "gst-x264-portrait-phone",
        "GStreamer x264enc + mp4mux, display matrix patched in",
        "portrait phone video: 320x180 coded, turned 90° for display",
        (
            (
                _raw_frames("320x180", "30", 4),
                _gst("320x180", "30/1", "x264enc key-int-max=30 bframes=0", "mp4mux", 4),
            ),
        ),
        rotation=90,
    ),
    # -- ffmpeg, written the ways other tools write -----------------------------
    Recipe(
        "ff-no-editlist",
        "ffmpeg libx264, -use_editlist 0",
        "B-frames without an edit list: first frame at 0.0667 s",
        (
            (
                _ffmpeg(
                    "320x240",
                    "30",
                    4,
                    (*X264_B, *_gop(30)),
                    extra=("-use_editlist", "0", "-movflags", "+faststart"),
                ),
            ),
        ),
    ),
    Recipe(
        "ff-no-editlist-video-only",
        "ffmpeg libx264, -use_editlist 0, no audio",
        "the first frame at 0.0667 s and nothing else starting earlier",
        (
            (
                _ffmpeg(
                    "320x240",
                    "30",
                    4,
                    (*X264_B, *_gop(30)),
                    audio=False,
                    extra=("-use_editlist", "0", "-movflags", "+faststart"),
                ),
            ),
        ),
        audio=False,
    ),
    Recipe(
        "ff-moov-at-end",
        "ffmpeg libx264, no +faststart",
        "index after the media, 24 fps",
        ((_ffmpeg("320x240", "24", 4, (*X264_B, *_gop(24))),),),
    ),
    Recipe(
        "ff-mov-rotate-180",
        "ffmpeg libx264, QuickTime .mov, display matrix 180°",
        "upside-down camera, .mov",
        ((_ffmpeg("320x240", "30", 4, (*X264_B, *_gop(30))),),),
        suffix=".mov",
        rotation=180,
    ),
    Recipe(
        "ff-rotate-270",
        "ffmpeg libx264, display matrix 270°",
        "portrait the other way round, B-frames",
        ((_ffmpeg("320x180", "30", 4, (*X264_B, *_gop(30))),),),
        rotation=270,
    ),
    Recipe(
        "ff-vfr",
        "ffmpeg libx264, every fourth frame dropped, 90 kHz",
        "variable frame rate with B-frames",
        (
            (
                _ffmpeg(
                    "320x240",
                    "30",
                    4,
                    (*X264_B, *_gop(30)),
                    video_input=(),
                    extra=(
                        "-vf",
                        "select='not(eq(mod(n\\,4)\\,3))'",
                        "-fps_mode",
                        "vfr",
                        "-video_track_timescale",
                        "90000",
                        "-movflags",
                        "+faststart",
                    ),
                ),
            ),
        ),
    ),
    Recipe(
        "ff-phone-vfr-mov",
        "ffmpeg libx264 baseline, .mov at timescale 600, 90° matrix",
        "a phone's recording: VFR, 600 ticks/s, portrait, 44.1 kHz",
        (
            (
                _ffmpeg(
                    "320x180",
                    "30",
                    4,
                    (
                        "-c:v",
                        "libx264",
                        "-preset",
                        "veryfast",
                        "-profile:v",
                        "baseline",
                        "-pix_fmt",
                        "yuv420p",
                        *_gop(30),
                    ),
                    extra=(
                        "-vf",
                        "select='not(eq(mod(n\\,5)\\,2))'",
                        "-fps_mode",
                        "vfr",
                        "-video_track_timescale",
                        "600",
                        "-ar",
                        "44100",
                    ),
                ),
            ),
        ),
        suffix=".mov",
        rotation=90,
    ),
    Recipe(
        "ff-50fps-gop4s",
        "ffmpeg libx264, 50 fps, keyframe every 4 s",
        "long GOP at 50 fps",
        ((_ffmpeg("320x240", "50", 9, (*X264_B, *_gop(200))),),),
    ),
    Recipe(
        "ff-5994fps-gop5s",
        "ffmpeg libx264, 59.94 fps, keyframe every 5 s",
        "long GOP at an NTSC rate",
        ((_ffmpeg("320x240", "60000/1001", 11.5, (*X264_B, *_gop(300))),),),
    ),
    Recipe(
        "ff-60fps-gop4s",
        "ffmpeg libx264, 60 fps, keyframe every 4 s",
        "long GOP at 60 fps",
        ((_ffmpeg("320x240", "60", 9, (*X264_B, *_gop(240))),),),
    ),
    Recipe(
        "ff-open-gop",
        "ffmpeg libx264 open-gop=1, 29.97 fps, 44.1 kHz",
        "open GOP: keyframes after the first are not IDR pictures",
        (
            (
                _ffmpeg(
                    "320x240",
                    "30000/1001",
                    4,
                    (*X264_B, "-g", "30", "-x264-params", "open-gop=1:scenecut=0"),
                    extra=("-ar", "44100"),
                ),
            ),
        ),
    ),
    Recipe(
        "ff-open-gop-pyramid",
        "ffmpeg libx264 open-gop=1, 3 B-frames, b-pyramid normal, keyframe every 32 frames",
        "open GOP whose keyframes lead a full mini-GOP: its middle B-frame is a reference, so"
        " leaving it out of the copy leaves a frame_num gap",
        ((_ffmpeg("320x240", "30", 4, _open_gop_32(":b-pyramid=normal")),),),
    ),
    Recipe(
        "ff-open-gop-forced-idr",
        "ffmpeg libx264 open-gop=1, IDR frames forced at 1.3 s and 3.0 s",
        "open-GOP keyframes and IDR frames mixed: the renumbered copy meets a real IDR"
        " (the clip to the end)",
        (
            (
                _ffmpeg(
                    "320x240",
                    "30",
                    4,
                    _open_gop_32("", "-force_key_frames", "1.3,3.0", "-forced-idr", "1"),
                ),
            ),
        ),
    ),
    Recipe(
        "ff-open-gop-cavlc-slices",
        "ffmpeg libx264 open-gop=1, CAVLC, 3 slices a picture",
        "the rewritten keyframe's slice data shifted bit by bit (CAVLC), in every slice",
        (
            (
                _ffmpeg(
                    "320x240",
                    "30",
                    4,
                    _open_gop_32(":slices=3", "-coder", "0"),
                ),
            ),
        ),
    ),
    Recipe(
        "ff-x264-defaults",
        "ffmpeg libx264 at its defaults (preset medium, keyint 250)",
        "3 B-frames with pyramid; one keyframe in the file, so every cut re-encodes",
        ((_ffmpeg("640x360", "25", 5, ("-c:v", "libx264", "-pix_fmt", "yuv420p")),),),
    ),
    Recipe(
        "ff-main-sar-bt709",
        "ffmpeg libx264 main profile, SAR 4:3, BT.709 tags",
        "anamorphic pixels and colour description the re-encode must repeat",
        (
            (
                _ffmpeg(
                    "640x360",
                    "25",
                    5,
                    (
                        "-c:v",
                        "libx264",
                        "-preset",
                        "veryfast",
                        "-profile:v",
                        "main",
                        "-pix_fmt",
                        "yuv420p",
                        "-g",
                        "50",
                        "-keyint_min",
                        "50",
                        "-x264-params",
                        "scenecut=0:sar=4/3:colorprim=bt709:transfer=bt709:colormatrix=bt709",
                    ),
                ),
            ),
        ),
    ),
    Recipe(
        "ff-1080p-2997",
        "ffmpeg libx264, 1920x1080 at 29.97 fps",
        "full HD with a 2 s GOP (and a cropped 1088-line coding)",
        ((_ffmpeg("1920x1080", "30000/1001", 5, (*X264_B, *_gop(60))),),),
    ),
    Recipe(
        "ff-audio-before-video",
        "ffmpeg libx264, video delayed 0.5 s",
        "audio starts before video (the video track begins with an empty edit)",
        ((_ffmpeg("320x240", "30", 4, (*X264_B, *_gop(30)), video_input=("-itsoffset", "0.5")),),),
    ),
    Recipe(
        "ff-video-only",
        "ffmpeg libx264, no audio track",
        "a video-only file, 25 fps",
        ((_ffmpeg("320x240", "25", 4, (*X264_B, *_gop(25)), audio=False),),),
        audio=False,
    ),
    # The smart cut must refuse these and fall back to the edit list.
    Recipe(
        "ff-hevc",
        "ffmpeg libx265 (hvc1)",
        "HEVC",
        (
            (
                _ffmpeg(
                    "320x240",
                    "30",
                    4,
                    (
                        "-c:v",
                        "libx265",
                        "-preset",
                        "ultrafast",
                        "-tag:v",
                        "hvc1",
                        "-pix_fmt",
                        "yuv420p",
                        "-x265-params",
                        "keyint=30:min-keyint=30:log-level=0",
                    ),
                ),
            ),
        ),
        precision="codec",
        unplayable_in={
            "chromium": "no HEVC decoder without hardware decoding",
            "firefox": "no HEVC decoder without hardware decoding",
        },
    ),
    Recipe(
        "ff-h264-10bit",
        "ffmpeg libx264, High 10",
        "10-bit H.264",
        (
            (
                _ffmpeg(
                    "320x240",
                    "30",
                    4,
                    (
                        "-c:v",
                        "libx264",
                        "-preset",
                        "veryfast",
                        "-pix_fmt",
                        "yuv420p10le",
                        *_gop(30),
                    ),
                ),
            ),
        ),
        precision="h264_profile",
    ),
    Recipe(
        "ff-h264-422",
        "ffmpeg libx264, High 4:2:2",
        "4:2:2 H.264",
        (
            (
                _ffmpeg(
                    "320x240",
                    "30",
                    4,
                    ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv422p", *_gop(30)),
                ),
            ),
        ),
        precision="h264_profile",
    ),
)
