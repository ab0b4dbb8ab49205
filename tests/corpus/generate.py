"""Making the corpus: run each recipe's pipelines, patch rotation in, cache the files.

Generated files are cached under ``.cache/corpus/`` keyed by a hash of the
recipe and the tools' versions, so a second run of the suite reuses them and
a changed recipe or tool makes a new file.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import struct
import subprocess
from pathlib import Path

from pool.mp4.boxes import file_reader, top_level
from tests.corpus.recipes import GST, RECIPES, Pipeline, Recipe

#: Where generated sources are kept between runs (git ignores it).
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "corpus"


def tool_versions(ffmpeg: str) -> str:
    """The versions of every tool the recipes run (part of each file's cache key)."""
    lines = []
    for argv in ([ffmpeg, "-version"], [GST, "--version"]):
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        lines.append(out.splitlines()[0])
    return "\n".join(lines)


def _run(pipeline: Pipeline, values: dict[str, str]) -> None:
    processes: list[subprocess.Popen[bytes]] = []
    previous = None
    for n, template in enumerate(pipeline):
        argv = [part.format(**values) for part in template]
        last = n == len(pipeline) - 1
        process = subprocess.Popen(
            argv, stdin=previous, stdout=None if last else subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        if previous is not None:
            previous.close()  # the next process owns it now
        previous = process.stdout
        processes.append(process)
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        if process.returncode != 0:
            raise RuntimeError(f"{process.args!r} failed: {stderr.decode(errors='replace')}")


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, end) of each box in ``data[start:end]`` (32-bit sizes only)."""
    found = []
    while start + 8 <= end:
        size, box_type = struct.unpack_from(">I4s", data, start)
        found.append((box_type, start + 8, start + size))
        start += size
    return found


def set_rotation(path: Path, degrees: int) -> None:
    """Write a display matrix turning the picture ``degrees`` clockwise into the video tkhd.

    The matrix a phone writes: players rotate the coded picture for display.
    Only the matrix's bytes change, so the file is patched in place.
    """
    cos, sin = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    fixed = 1 << 16
    matrix = struct.pack(">9i", cos * fixed, sin * fixed, 0, -sin * fixed, cos * fixed, 0,
                         0, 0, 1 << 30)  # fmt: skip
    moov_at = next(b for b in top_level(*file_reader(path)) if b.type == b"moov")
    with path.open("r+b") as f:
        f.seek(moov_at.offset)
        moov = f.read(moov_at.size)
        for kind, begin, end in _boxes(moov, 8, len(moov)):
            if kind != b"trak":
                continue
            children = {k: (b, e) for k, b, e in _boxes(moov, begin, end)}
            mdia = children[b"mdia"]
            handler = {k: b for k, b, _ in _boxes(moov, *mdia)}[b"hdlr"]
            if moov[handler + 8 : handler + 12] != b"vide":
                continue
            # tkhd ends with the matrix (36 bytes), then width and height (8).
            tkhd_end = children[b"tkhd"][1]
            f.seek(moov_at.offset + tkhd_end - 44)
            f.write(matrix)


def generate(recipe: Recipe, ffmpeg: str, versions: str) -> Path:
    """The recipe's file, made now unless the cache has it."""
    path = CACHE / recipe.key(versions)
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / f".work-{path.name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    part = work / f"out{recipe.suffix}"
    try:
        for pipeline in recipe.pipelines:
            _run(pipeline, {"ffmpeg": ffmpeg, "out": str(part), "work": str(work)})
        if recipe.rotation:
            set_rotation(part, recipe.rotation)
        part.replace(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def generate_all(ffmpeg: str) -> dict[str, Path]:
    """Every corpus source, by recipe name, made side by side where missing."""
    versions = tool_versions(ffmpeg)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda r: generate(r, ffmpeg, versions), RECIPES))
    return {recipe.name: path for recipe, path in zip(RECIPES, paths, strict=True)}


def generate_named(name: str, ffmpeg: str) -> Path:
    """One corpus source by recipe name, made now unless cached (for tests that need a few)."""
    recipe = next(r for r in RECIPES if r.name == name)
    return generate(recipe, ffmpeg, tool_versions(ffmpeg))
