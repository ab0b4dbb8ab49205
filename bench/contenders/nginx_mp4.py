"""nginx's mp4 module (``?start=&end=``), plain and with ``mp4_start_key_frame on``.

It has no clip cache: every request reads the source's index again. The
warm target is measured against the plain row.
"""

from __future__ import annotations

from functools import partial

from bench.contenders.base import Contender, Timer
from bench.runner.stage import Clip, Stage
from bench.runner.timing import fetch


def target(stage: Stage, clip: Clip, location: str = "/source/") -> str:
    """The URL path of ``clip`` under ``location`` (see bench.runner.nginx)."""
    return f"{location}{stage.source.name}?start={clip.span.start}&end={clip.span.end}"


def plain(stage: Stage, clip: Clip) -> Timer:
    """A GET of ``clip`` from nginx's mp4 module: from the sample at ``start``."""
    return partial(fetch, stage.nginx_port, target(stage, clip))


def key_frame(stage: Stage, clip: Clip) -> Timer:
    """The same with ``mp4_start_key_frame on``: from the keyframe before ``start``."""
    return partial(fetch, stage.nginx_port, target(stage, clip, "/source-kf/"))


PLAIN = Contender(
    "nginx mp4 module (`?start=&end=`)",
    "nginx `mp4;` on the source directory (`sendfile on`, 1 worker). It has no "
    "clip cache, so every request re-reads the index; the source is in the page cache, as "
    "it is for the origin. The warm target is measured against this row.",
    plain,
)
KEY_FRAME = Contender(
    "nginx mp4 module, `mp4_start_key_frame on`",
    "the same with the key-frame pre-roll and an edit list, like the "
    "origin's output (like-for-like bytes).",
    key_frame,
)
