"""Benchmark: building, holding and reloading a source's sample index (pool/mp4/index.py).

Two sources: the benchmarks' 5-minute 1080p30 MP4 (bench/runner/source.py),
and a two-hour one made of its ``moov`` alone, every sample table repeated 24
times (216 000 video samples and the audio's; no media data: the index reads
none). For each, the index is built by the compact reader and by the reader
it replaced (``pool/mp4/index.py`` at commit ``BEFORE``, read from git):
build time (``read_movie`` on a ``moov`` already in memory or the page
cache, median of ``--runs``), the bytes it keeps per sample (tracemalloc:
everything the returned ``Movie`` holds), and for the compact one the size
of the saved index and the time to load it (read the file, ``load_movie``).
"""

from __future__ import annotations

import gc
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.report.page import section_main
from bench.report.sample_index import BEFORE, BEGIN, END, Results, Row, render
from bench.runner.source import REPO, ensure_source
from pool.ffmpeg_binary import find_ffmpeg
from pool.mp4.boxes import Box, ReadAt, read_moov
from pool.mp4.index import read_movie
from pool.mp4.index_file import dump_movie, load_movie
from pool.mp4.sample_tables import be_integers

LONG_REPEAT = 24  # 5 min x 24 = 2 h


def legacy_reader() -> ModuleType | None:
    """The per-sample reader this one replaced, from git (None outside a checkout)."""
    try:
        code = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{BEFORE}:pool/mp4/index.py"],
            capture_output=True, check=True, text=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "legacy_index.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("legacy_index", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules["legacy_index"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _table(box_type: bytes, head: bytes, values: array[int]) -> Box:
    if sys.byteorder == "little":
        values = array(values.typecode, values)
        values.byteswap()
    return Box(box_type, head + values.tobytes())


def _repeated_stbl(stbl: Box, times: int, media_bytes: int) -> Box:
    """``stbl`` with every sample table repeated ``times`` (chunks ``media_bytes`` apart)."""
    found = {c.type: c for c in stbl.children}
    stsz, stsc = found[b"stsz"], found[b"stsc"]
    samples = int.from_bytes(stsz.payload[8:12], "big")
    chunk_box = found.get(b"stco") or found[b"co64"]
    chunk_count = int.from_bytes(chunk_box.payload[4:8], "big")
    chunks = be_integers(
        "I" if chunk_box.type == b"stco" else "q", chunk_box.payload, 8, chunk_count
    )
    children: list[Box] = []
    for child in stbl.children:
        kind, payload = child.type, child.payload
        count = int.from_bytes(payload[4:8], "big") if len(payload) >= 8 else 0
        version = payload[:4]
        if kind in (b"stts", b"ctts"):
            rows = be_integers("I", payload, 8, 2 * count) * times
            children.append(_table(kind, version + (count * times).to_bytes(4, "big"), rows))
        elif kind == b"stsz":
            uniform = payload[4:8]
            sizes = (
                be_integers("I", payload, 12, samples) * times
                if uniform == bytes(4)
                else array("I")
            )
            head = version + uniform + (samples * times).to_bytes(4, "big")
            children.append(_table(kind, head, sizes))
        elif kind in (b"stco", b"co64"):
            moved = array("q", (o + k * media_bytes for k in range(times) for o in chunks))
            head = version + len(moved).to_bytes(4, "big")
            children.append(_table(b"co64", head, moved))
        elif kind == b"stsc":
            rows = be_integers("I", payload, 8, 3 * count)
            repeated = array("I")
            for k in range(times):
                copy = array("I", rows)
                for r in range(0, len(copy), 3):
                    copy[r] += k * chunk_count
                repeated += copy
            children.append(_table(kind, version + (count * times).to_bytes(4, "big"), repeated))
        elif kind == b"stss":
            numbers = be_integers("I", payload, 8, count)
            moved_numbers = array("I", (n + k * samples for k in range(times) for n in numbers))
            children.append(
                _table(kind, version + len(moved_numbers).to_bytes(4, "big"), moved_numbers)
            )
        elif kind not in (b"sdtp", b"sbgp"):  # per-sample tables the index does not read
            children.append(child)
    assert stsc in stbl.children
    return Box(b"stbl", children=children)


def _with_stbl(box: Box, times: int, media_bytes: int) -> Box:
    if box.type == b"stbl":
        return _repeated_stbl(box, times, media_bytes)
    if not box.is_container:
        return box
    return Box(box.type, box.payload, [_with_stbl(c, times, media_bytes) for c in box.children])


def long_moov(source: Path, times: int) -> bytes:
    """A file of just ``ftyp`` and a ``moov`` describing ``source`` played ``times`` over."""
    with source.open("rb") as f:
        size = f.seek(0, 2)

        def read_at(offset: int, n: int) -> bytes:
            f.seek(offset)
            return f.read(n)

        moov = read_moov(read_at, size)
    ftyp = Box(b"ftyp", b"isom\0\0\2\0isomiso2avc1mp41")
    return ftyp.serialize() + _with_stbl(moov, times, size).serialize()


def _median_s(function: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _resident(build: Callable[[], Any]) -> tuple[Any, int]:
    """What ``build()`` returns and the bytes it still holds once built."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        built = build()
        gc.collect()
        return built, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def measure_one(
    label: str, read_at: ReadAt, size: int, legacy: ModuleType | None, runs: int
) -> Row:
    after = _median_s(lambda: read_movie(read_at, size), runs)
    movie, kept = _resident(lambda: read_movie(read_at, size))
    samples = sum(len(t.samples) for t in movie.tracks)
    before = kept_before = None
    if legacy is not None:
        reader: Callable[[ReadAt, int], Any] = legacy.read_movie
        before = _median_s(lambda: reader(read_at, size), runs)
        old, kept_before = _resident(lambda: reader(read_at, size))
        del old
    with tempfile.TemporaryDirectory() as work:
        saved = Path(work) / "index.idx"
        saved.write_bytes(dump_movie(movie, label))
        load = _median_s(lambda: load_movie(saved.read_bytes(), label), runs)
        saved_bytes = saved.stat().st_size
    return Row(label, samples, before, after, kept_before, kept, saved_bytes, load)


def measure(runs: int) -> Results:
    source = ensure_source(find_ffmpeg(None))
    legacy = legacy_reader()
    rows = []
    with source.open("rb") as f:
        size = f.seek(0, 2)

        def read_file(offset: int, n: int) -> bytes:
            f.seek(offset)
            return f.read(n)

        rows.append(measure_one("5 min 1080p30 (bench source)", read_file, size, legacy, runs))
    data = long_moov(source, LONG_REPEAT)
    rows.append(
        measure_one(
            "2 h (its moov x 24, synthetic)",
            lambda offset, n: data[offset : offset + n],
            len(data),
            legacy,
            runs,
        )
    )
    return Results(rows, runs, legacy is not None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its section of docs/benchmarks.md (or ``--output``)."""
    return section_main(
        argv, prog="python -m bench.sample_index", description=__doc__,
        repeats=("runs", 7, "builds per median"),
        measure=measure, render=render, begin=BEGIN, end=END,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
