"""What a contender is: a row of the latency tables, its bullet under Method, its timer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.runner.origin import Origin
from bench.runner.stage import Clip, Stage
from bench.runner.timing import Sample

Timer = Callable[[], Sample]  # one timed run: a GET, or an ffmpeg subprocess


@dataclass(frozen=True)
class Contender:
    """One way to get a clip, timed the same way as every other."""

    label: str  # its row in the latency tables
    method: str  # its bullet under "Method", after the label
    timer: Callable[[Stage, Clip], Timer]  # what one run on one clip does


def cold_on(server: Callable[[Stage], Origin]) -> Callable[[Stage, Clip], Timer]:
    """A timer of cold GETs: the clip on ``server(stage)``, its cached file deleted first."""

    def timer(stage: Stage, clip: Clip) -> Timer:
        return server(stage).cold(clip.url, clip.request.clip_id)

    return timer
