"""The origin warm: the edit-list server's clip again, from its cache."""

from __future__ import annotations

from functools import partial

from bench.contenders.base import Contender, Timer
from bench.runner.stage import Clip, Stage
from bench.runner.timing import fetch


def timer(stage: Stage, clip: Clip) -> Timer:
    """A GET of ``clip`` on the edit-list server, which has it cached."""
    return partial(fetch, stage.editlist.port, clip.url)


CONTENDER = Contender(
    "origin warm (cached)", "the edit-list URL again, served from the cache.", timer
)
