"""A built sample index as bytes, so a restarted process loads it instead of parsing.

The format: MAGIC, a format version, a JSON header (the caller's key, each
track's scalars and column shapes), each track's trak box and columns
(little-endian), then a BLAKE2b digest of everything before it. Anything
else (another version, another key, a wrong digest) is an :class:`Mp4Error`:
the caller parses the source again.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from array import array

from pool.mp4.boxes import Box, Mp4Error, parse_boxes
from pool.mp4.index import Movie, Track
from pool.mp4.sample_tables import ChunkMap
from pool.mp4.samples import Samples

INDEX_MAGIC = b"ORIGIDX\n"
INDEX_FORMAT = 1
_DIGEST = 16
_COLUMNS = ("sizes", "pts", "composition", "sync", "chunk_offsets", "first_sample",
            "first_chunk", "per_chunk")  # fmt: skip


def _track_columns(samples: Samples) -> dict[str, array[int] | bytearray | None]:
    chunks = samples.chunks
    return {
        "sizes": samples.sizes,
        "pts": samples.pts,
        "composition": samples.composition,
        "sync": samples.sync,
        "chunk_offsets": chunks.chunk_offsets,
        "first_sample": chunks.first_sample,
        "first_chunk": chunks.first_chunk,
        "per_chunk": chunks.per_chunk,
    }


def _le(values: array[int]) -> bytes:
    if sys.byteorder == "little":
        return values.tobytes()
    swapped = array(values.typecode, values)
    swapped.byteswap()
    return swapped.tobytes()


def dump_movie(movie: Movie, key: str) -> bytes:
    """``movie`` as bytes :func:`load_movie` reads back (given the same ``key``)."""
    tracks: list[dict[str, object]] = []
    blobs: list[bytes] = []
    for track in movie.tracks:
        trak = track.trak.serialize()
        shapes: dict[str, list[object] | None] = {}
        blobs.append(trak)
        for name, column in _track_columns(track.samples).items():
            if column is None:
                shapes[name] = None
            elif isinstance(column, bytearray):
                shapes[name] = ["B", len(column)]
                blobs.append(bytes(column))
            else:
                shapes[name] = [column.typecode, len(column)]
                blobs.append(_le(column))
        tracks.append(
            {
                "track_id": track.track_id,
                "handler": track.handler.decode("latin-1"),
                "timescale": track.timescale,
                "codec": track.codec.decode("latin-1"),
                "last_duration": track.samples.last_duration,
                "trak": len(trak),
                "columns": shapes,
            }
        )
    header = json.dumps({"key": key, "tracks": tracks}, separators=(",", ":")).encode()
    body = b"".join([INDEX_MAGIC, struct.pack("<II", INDEX_FORMAT, len(header)), header, *blobs])
    return body + hashlib.blake2b(body, digest_size=_DIGEST).digest()


def load_movie(data: bytes, key: str) -> Movie:
    """The movie :func:`dump_movie` saved under ``key``; Mp4Error if ``data`` is anything else
    (another format version, another key, damaged or truncated bytes)."""
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if len(data) < len(INDEX_MAGIC) + 8 + _DIGEST or not body.startswith(INDEX_MAGIC):
        raise Mp4Error("not a saved index")
    version, header_size = struct.unpack_from("<II", body, len(INDEX_MAGIC))
    if version != INDEX_FORMAT:
        raise Mp4Error(f"saved index format {version}, not {INDEX_FORMAT}")
    if hashlib.blake2b(body, digest_size=_DIGEST).digest() != digest:
        raise Mp4Error("saved index damaged")
    at = len(INDEX_MAGIC) + 8
    try:
        header = json.loads(body[at : at + header_size])
        at += header_size
        if header["key"] != key:
            raise Mp4Error("saved index of another source")
        view = memoryview(body)
        tracks = []
        for meta in header["tracks"]:
            (trak,) = parse_boxes(bytes(view[at : at + meta["trak"]]))
            at += meta["trak"]
            columns: dict[str, array[int] | bytearray | None] = {}
            for name in _COLUMNS:
                shape = meta["columns"][name]
                if shape is None:
                    columns[name] = None
                    continue
                typecode, count = shape
                if typecode not in ("B", "I", "i", "q") or count < 0:
                    raise Mp4Error(f"saved index column {name} of a bad shape")
                if typecode == "B":
                    columns[name] = bytearray(view[at : at + count])
                    at += count
                    continue
                values = array(typecode)
                values.frombytes(view[at : at + count * values.itemsize])
                at += count * values.itemsize
                if sys.byteorder != "little":
                    values.byteswap()
                columns[name] = values
            tracks.append(_loaded_track(meta, trak, columns))
    except (KeyError, TypeError, ValueError, struct.error) as exc:
        if isinstance(exc, Mp4Error):
            raise
        raise Mp4Error(f"saved index unreadable: {exc}") from None
    if at != len(body):
        raise Mp4Error("saved index has trailing bytes")
    return Movie(tuple(tracks))


def _loaded_track(
    meta: dict[str, object], trak: Box, columns: dict[str, array[int] | bytearray | None]
) -> Track:
    def column(name: str) -> array[int]:
        value = columns[name]
        if not isinstance(value, array):
            raise Mp4Error(f"saved index without {name}")
        return value

    sync = columns["sync"]
    composition = columns["composition"]
    if not isinstance(sync, bytearray) or isinstance(composition, bytearray):
        raise Mp4Error("saved index with a bad column")
    chunks = ChunkMap(
        column("chunk_offsets"), column("first_sample"), column("first_chunk"), column("per_chunk")
    )
    samples = Samples(
        column("sizes"), column("pts"), composition, sync, int(str(meta["last_duration"])), chunks
    )
    return Track(
        track_id=int(str(meta["track_id"])),
        handler=str(meta["handler"]).encode("latin-1"),
        timescale=int(str(meta["timescale"])),
        codec=str(meta["codec"]).encode("latin-1"),
        samples=samples,
        trak=trak,
    )
