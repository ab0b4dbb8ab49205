"""MP4 (ISO BMFF) boxes: parse bytes into a tree, serialize it back, scan a file's top level.

Only the container boxes this project walks are parsed into children; every
other box keeps its payload as bytes, so rewriting a tree changes nothing it
does not touch.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_CONTAINERS = {b"moov", b"trak", b"edts", b"mdia", b"minf", b"stbl", b"dinf"}

#: Reads ``size`` bytes at ``offset`` (fewer only at the end of the file).
ReadAt = Callable[[int, int], bytes]


class Mp4Error(ValueError):
    """The file is not an MP4 this project can read or rewrite."""


@dataclass
class Box:
    """One MP4 box: a leaf with its payload or a container with children."""

    type: bytes
    payload: bytes = b""
    children: list[Box] = field(default_factory=list)

    @property
    def is_container(self) -> bool:
        return self.type in _CONTAINERS

    @property
    def version(self) -> int:
        """The version byte of a full box."""
        return self.payload[0]

    def find(self, box_type: bytes) -> Box | None:
        """First direct child of ``box_type``."""
        return next((c for c in self.children if c.type == box_type), None)

    def find_all(self, box_type: bytes) -> list[Box]:
        """Every direct child of ``box_type``."""
        return [c for c in self.children if c.type == box_type]

    def descend(self, *path: bytes) -> Box | None:
        """The box at ``path`` below this one (first match at each level), or None."""
        node: Box | None = self
        for box_type in path:
            node = node.find(box_type) if node else None
        return node

    def require(self, *path: bytes) -> Box:
        """:meth:`descend`, raising Mp4Error when a box on the way is missing."""
        found = self.descend(*path)
        if found is None:
            raise Mp4Error(f"missing {b'/'.join(path).decode()} box")
        return found

    def serialize(self) -> bytes:
        """The box's bytes with sizes recomputed."""
        body = b"".join(c.serialize() for c in self.children) if self.is_container else self.payload
        if len(body) + 8 <= 0xFFFFFFFF:
            return struct.pack(">I4s", len(body) + 8, self.type) + body
        return struct.pack(">I4sQ", 1, self.type, len(body) + 16) + body


def full_box(box_type: bytes, version: int, body: bytes, flags: int = 0) -> Box:
    """A leaf full box: version, 24-bit flags, then ``body``."""
    return Box(box_type, struct.pack(">I", (version << 24) | flags) + body)


def runs(values: Iterable[int]) -> list[tuple[int, int]]:
    """Run-length rows ``(count, value)`` of a table such as ``stts`` or ``ctts``."""
    found: list[tuple[int, int]] = []
    for value in values:
        if found and found[-1][1] == value:
            found[-1] = (found[-1][0] + 1, value)
        else:
            found.append((1, value))
    return found


def table_box(box_type: bytes, rows: Sequence[tuple[int, ...]], fmt: str, version: int = 0) -> Box:
    """A full box holding an entry count and ``rows``, each packed with ``fmt``."""
    body = struct.pack(">I", len(rows)) + b"".join(struct.pack(fmt, *row) for row in rows)
    return full_box(box_type, version, body)


def parse_boxes(data: bytes) -> list[Box]:
    """Parse a run of boxes (a whole ``moov``, or a container's content)."""
    boxes: list[Box] = []
    pos = 0
    while pos + 8 <= len(data):
        size, box_type = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = len(data) - pos
        if size < header or pos + size > len(data):
            raise Mp4Error(f"malformed {box_type!r} box")
        content = data[pos + header : pos + size]
        box = Box(box_type)
        if box.is_container:
            box.children = parse_boxes(content)
        else:
            box.payload = content
        boxes.append(box)
        pos += size
    return boxes


@dataclass(frozen=True)
class TopLevel:
    """Where one top-level box sits in a file."""

    type: bytes
    offset: int
    size: int


def top_level(read_at: ReadAt, file_size: int) -> list[TopLevel]:
    """The file's top-level boxes, reading only their headers."""
    boxes: list[TopLevel] = []
    offset = 0
    while offset + 8 <= file_size:
        head = read_at(offset, 16)
        if len(head) < 8:
            raise Mp4Error("file ends inside a box header")
        size, box_type = struct.unpack_from(">I4s", head)
        if size == 1:
            if len(head) < 16:
                raise Mp4Error("file ends inside a box header")
            (size,) = struct.unpack_from(">Q", head, 8)
        elif size == 0:
            size = file_size - offset
        if size < 8:
            raise Mp4Error(f"malformed top-level {box_type!r} box")
        boxes.append(TopLevel(box_type, offset, size))
        offset += size
    return boxes


def file_reader(path: Path) -> tuple[ReadAt, int]:
    """A :data:`ReadAt` over a local file (opened per call) and the file's size."""

    def read_at(offset: int, size: int) -> bytes:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(size)

    return read_at, path.stat().st_size


def read_moov(read_at: ReadAt, file_size: int) -> Box:
    """Find and parse the ``moov`` box of an MP4."""
    top = top_level(read_at, file_size)
    if not top or top[0].type != b"ftyp":
        raise Mp4Error("not an MP4 file (no ftyp box first)")
    found = next((b for b in top if b.type == b"moov"), None)
    if found is None:
        raise Mp4Error("no moov box")
    data = read_at(found.offset, found.size)
    if len(data) != found.size:
        raise Mp4Error("file ends inside the moov box")
    [moov] = parse_boxes(data)
    return moov


def is_complete_mp4(path: Path) -> bool:
    """True when the file's top-level boxes fill it exactly and include moov.

    Cheap (a read per top-level box) and enough to catch a file cut short, or
    zero-filled, by a crash.
    """
    try:
        boxes = top_level(*file_reader(path))
    except (Mp4Error, OSError, struct.error):
        return False
    if not boxes or boxes[0].type != b"ftyp":
        return False
    end = boxes[-1].offset + boxes[-1].size
    return end == path.stat().st_size and any(b.type == b"moov" for b in boxes)
