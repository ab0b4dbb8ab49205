"""Client styles: the warm and cold ratios as a fresh connection, keep-alive, curl and
http.client see them.

``.venv/bin/python -m bench.client_styles [--runs N] [--output PATH]`` (``make
bench``) starts what ``bench.clip_latency`` starts (bench.runner.stage) and
times the same two clips from the origin warm (cached), nginx's mp4 module,
nginx serving the origin's cached file as a static file (sendfile: the same
bytes), and the origin cold (edit list), each with every client style of
:data:`STYLES`, plus raw ffmpeg (no client) and curl's start-up alone, in a
rotating order. It replaces its own section of docs/benchmarks.md (or
``PATH``), between ``<!-- client-styles -->`` and ``<!-- /client-styles -->``;
the text is in bench/report/client_styles.py. About a minute on 2 CPUs.
"""

from __future__ import annotations

import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.contenders import nginx_mp4, raw_ffmpeg
from bench.report.client_styles import (
    BEGIN,
    COLD,
    CURL_OWN,
    CURL_WALL,
    END,
    FRESH,
    KEEP_ALIVE,
    NGINX,
    PYTHON,
    QUICK_ACK,
    SMALL_READS,
    STATIC,
    WARM,
    Results,
    render,
)
from bench.report.page import section_main
from bench.runner.clients import PythonClient, curl, process_start
from bench.runner.origin import CacheCleaner
from bench.runner.source import ensure_source
from bench.runner.stage import Clip, Stage, staged
from bench.runner.timing import KeepAlive, Sample, fetch
from bench.saturation.procfs import Sched, server_pid, thread_scheds
from pool.ffmpeg_binary import find_ffmpeg

#: What curl 7.88 asks of each recv (measured with strace: 102 400 bytes).
CURL_READ_BYTES = 100 * 1024


class Clients:
    """Every client style's way to GET, with the connections the kept-alive ones hold."""

    def __init__(self) -> None:
        self._kept: dict[tuple[int, bool], KeepAlive] = {}
        self._python: dict[int, PythonClient] = {}

    def get(self, style: str, port: int, target: str) -> list[tuple[str, Sample]]:
        """One GET of ``target`` in ``style``: its samples (curl's run gives two)."""
        if style == FRESH:
            return [(FRESH, fetch(port, target))]
        if style == SMALL_READS:
            return [(SMALL_READS, fetch(port, target, CURL_READ_BYTES))]
        if style in (KEEP_ALIVE, QUICK_ACK):
            quick = style == QUICK_ACK
            kept = self._kept.setdefault((port, quick), KeepAlive(port, quick_ack=quick))
            return [(style, kept.get(target))]
        if style == PYTHON:
            return [(PYTHON, self._python.setdefault(port, PythonClient(port)).get(target))]
        wall, own = curl(port, target)
        return [(CURL_WALL, wall), (CURL_OWN, own)]

    def close(self) -> None:
        """Close every kept connection."""
        for kept in self._kept.values():
            kept.close()
        for python in self._python.values():
            python.close()


#: The styles a run asks with (curl's one run gives both curl rows).
ASKED = (FRESH, SMALL_READS, KEEP_ALIVE, QUICK_ACK, PYTHON, CURL_WALL)


def _targets(stage: Stage, clip: Clip) -> dict[str, tuple[int, str, Callable[[], None]]]:
    """Contender → (port, target, what to do before each GET: make it cold, or nothing)."""
    cached = next(stage.editlist.cache_dir.glob(f"c{clip.request.clip_id}-v*.mp4"))
    clean = CacheCleaner(stage.editlist.cache_dir, clip.request.clip_id, stage.editlist.form)
    # Cold and warm on the one edit-list server: a cold GET cuts the clip into
    # the cache again under the same name, so the warm rows find it there.
    return {
        WARM: (stage.editlist.port, clip.url, lambda: None),
        NGINX: (stage.nginx_port, nginx_mp4.target(stage, clip), lambda: None),
        STATIC: (stage.nginx_port, f"/cache/{cached.name}", lambda: None),
        COLD: (stage.editlist.port, clip.url, clean),
    }


def nginx_worker(stage: Stage) -> int:
    """The pid of the one nginx worker (bench.runner.nginx runs one), a child of the master."""
    master = (stage.work / "nginx" / "nginx.pid").read_text().strip()
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def _client_cpu() -> float:
    """CPU seconds this thread and the children it waited for (curl) have used so far."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.thread_time() + children.ru_utime + children.ru_stime


def _on_cpu(pid: int) -> Sched:
    return sum(thread_scheds(pid).values(), Sched())


def _rotate(stage: Stage, clip: Clip, clients: Clients, results: Results) -> None:
    targets = _targets(stage, clip)
    servers = {WARM: server_pid(stage.editlist.port), NGINX: nginx_worker(stage)}
    servers[STATIC] = servers[NGINX]
    raw = raw_ffmpeg.CONTENDER.timer(stage, clip)
    label = clip.span.label
    pairs = [(c, s) for c in targets for s in ASKED]
    for contender, style in pairs:  # warm-up, not recorded: connections, page cache
        port, target, before = targets[contender]
        before()
        clients.get(style, port, target)
    raw()
    for i in range(results.runs):
        # Interleaved, in a rotating order, so drift and noise spread evenly.
        order = pairs[i % len(pairs) :] + pairs[: i % len(pairs)]
        for contender, style in order:
            port, target, before = targets[contender]
            before()
            pid = servers.get(contender)
            used, client = _on_cpu(pid) if pid else Sched(), _client_cpu()
            samples = clients.get(style, port, target)
            results.client[(label, contender, style)].append(_client_cpu() - client)
            if pid:
                results.server[(label, contender, style)].append(_on_cpu(pid) - used)
            for name, sample in samples:
                results.samples.setdefault((label, contender, name), []).append(sample)
        results.raw.setdefault(label, []).append(raw())
        results.curl_start_s.append(process_start(["curl", "--version"]))
        print(f"{label} clip: run {i + 1}/{results.runs}", file=sys.stderr)


def measure(runs: int) -> Results:
    """Start everything, time every contender in every style ``runs`` times, stop everything."""
    ffmpeg = find_ffmpeg(None)
    source = ensure_source(ffmpeg)
    results = Results({}, defaultdict(list), defaultdict(list), {}, [], runs)
    with staged(ffmpeg, source) as stage:
        for clip in stage.clips:
            fetch(stage.editlist.port, clip.url)  # the cached file the warm rows read
            clients = Clients()
            try:
                _rotate(stage, clip, clients, results)
            finally:
                clients.close()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its section of docs/benchmarks.md (or ``--output``)."""
    return section_main(
        argv, prog="python -m bench.client_styles", description=__doc__,
        repeats=("runs", 15, "runs per contender and client style"),
        measure=measure, render=render, begin=BEGIN, end=END,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
