"""The latency benchmark's contenders, one page each.

Each page holds a :class:`~bench.contenders.base.Contender`: its row's label,
its bullet under Method in docs/benchmarks.md, and how one run of it is timed.
:mod:`~bench.contenders.keep_alive` repeats the warm, nginx and edit-list
cold rows on kept-alive connections. The origin's two cold cuts also time
their own steps, and
:mod:`~bench.contenders.wrk_throughput` measures warm throughput apart.
"""

from __future__ import annotations

from bench.contenders import (
    full_reencode,
    keep_alive,
    nginx_mp4,
    origin_editlist,
    origin_pipe,
    origin_smart_cut,
    origin_warm,
    raw_ffmpeg,
)
from bench.contenders.base import Contender

# In the order of the tables' rows and of the Method's bullets.
LINEUP: tuple[Contender, ...] = (
    raw_ffmpeg.CONTENDER,
    full_reencode.CONTENDER,
    origin_editlist.CONTENDER,
    keep_alive.COLD,
    origin_smart_cut.CONTENDER,
    origin_warm.CONTENDER,
    keep_alive.WARM,
    nginx_mp4.PLAIN,
    keep_alive.NGINX,
    nginx_mp4.KEY_FRAME,
    origin_pipe.CONTENDER,
)
# Those timed in rotation; the full re-encode runs last, apart (bench.clip_latency).
ROTATION = tuple(c for c in LINEUP if c is not full_reencode.CONTENDER)
