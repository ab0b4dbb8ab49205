"""Everything the latency benchmark starts: the cluster, three origin servers and nginx."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bench.runner.nginx import nginx
from bench.runner.origin import Origin, add_source, private_cluster, serve, workspace
from bench.runner.processes import free_port
from bench.runner.source import SPANS, Span
from pool.request import ClipRequest


@dataclass(frozen=True)
class Clip:
    """One span of the source, as the origin registered it."""

    span: Span
    url: str  # its stream path, the same on every origin server
    request: ClipRequest  # what the edit-list server cuts for it


@dataclass(frozen=True)
class Stage:
    """What the latency benchmark started, for its contenders to time."""

    ffmpeg: str
    source: Path
    work: Path  # scratch files, on the caches' filesystem
    editlist: Origin  # file mode, ORIGIN_PRECISION=editlist
    smart: Origin  # file mode, ORIGIN_PRECISION=smart (the default)
    pipe: Origin  # ORIGIN_STREAM_MODE=pipe
    nginx_port: int
    clips: tuple[Clip, ...]  # one per span, in the order of SPANS


def register(env: Mapping[str, str], source: Path) -> tuple[Clip, ...]:
    """Register ``source`` cut at every span's edges; the clip of each span."""
    cuts = sorted({t for s in SPANS for t in (s.start, s.end)})
    made = add_source(env, source, "--cuts", ",".join(str(c) for c in cuts))
    clips = []
    for span in SPANS:
        url = next(c for c in made if Decimal(str(c["start"])) == span.start)["url"]
        request = ClipRequest(
            clip_id=int(url.split("/")[3]), version=1, source_input="file:" + str(source),
            source_identity="bench", start=span.start, end=span.end, mode="file",
        )  # fmt: skip
        clips.append(Clip(span, url, request))
    return tuple(clips)


@contextlib.contextmanager
def staged(ffmpeg: str, source: Path) -> Iterator[Stage]:
    """Start everything, all on 127.0.0.1; stop every one of them when the block ends."""
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(workspace("origin-bench-"))
        home = work / "home"
        clips = register(stack.enter_context(private_cluster(home)), source)
        # Precision is explicit on both file-mode servers: the default is smart.
        # No clip store: a cold request must cut, not copy what an earlier run
        # stored (bench.warming measures the store).
        nostore = {"ORIGIN_CLIP_STORE": "none"}
        editlist = stack.enter_context(
            serve(
                home,
                work,
                "file",
                "file",
                ORIGIN_STREAM_MODE="file",
                ORIGIN_PRECISION="editlist",
                **nostore,
            )
        )
        smart = stack.enter_context(
            serve(
                home,
                work,
                "smart",
                "smart",
                ORIGIN_STREAM_MODE="file",
                ORIGIN_PRECISION="smart",
                **nostore,
            )
        )
        pipe = stack.enter_context(
            serve(home, work, "pipe", "pipe", ORIGIN_STREAM_MODE="pipe", **nostore)
        )
        nginx_port = free_port()
        stack.enter_context(nginx(nginx_port, work / "nginx", source, editlist.cache_dir))
        yield Stage(ffmpeg, source, work, editlist, smart, pipe, nginx_port, clips)
