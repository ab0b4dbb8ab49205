"""The warm and cold rows again, each on one keep-alive connection instead of a fresh one.

The same raw-socket client (:class:`bench.runner.timing.KeepAlive`): what a
browser or a CDN holding its connections to the origin sees, without the
connect and close of every request. bench.client_styles sets more clients
side by side.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.contenders.base import Contender, Timer
from bench.contenders.nginx_mp4 import target as nginx_target
from bench.runner.origin import CacheCleaner
from bench.runner.stage import Clip, Stage
from bench.runner.timing import KeepAlive, Sample


def _kept(port: int, target: str, before: Callable[[], None] | None = None) -> Timer:
    connection = KeepAlive(port)

    def timer() -> Sample:
        if before is not None:
            before()
        return connection.get(target)

    return timer


def warm(stage: Stage, clip: Clip) -> Timer:
    """GETs of ``clip`` on the edit-list server (cached), on one kept connection."""
    return _kept(stage.editlist.port, clip.url)


def nginx(stage: Stage, clip: Clip) -> Timer:
    """GETs of ``clip`` from nginx's mp4 module, on one kept connection."""
    return _kept(stage.nginx_port, nginx_target(stage, clip))


def cold(stage: Stage, clip: Clip) -> Timer:
    """Cold GETs of ``clip`` on the edit-list server (cached file deleted first), kept alive."""
    server = stage.editlist
    return _kept(
        server.port, clip.url, CacheCleaner(server.cache_dir, clip.request.clip_id, server.form)
    )


WARM = Contender(
    "origin warm (cached), keep-alive",
    "the warm row's GETs on one keep-alive connection (the same raw-socket client, "
    "`bench.runner.timing.KeepAlive`).",
    warm,
)
NGINX = Contender(
    "nginx mp4 module (`?start=&end=`), keep-alive",
    "the nginx row's GETs on one keep-alive connection.",
    nginx,
)
COLD = Contender(
    "origin cold, file mode, edit list, keep-alive",
    "the edit-list cold row's GETs on one keep-alive connection (cached file deleted before each).",
    cold,
)
