"""The shared clip store: finished clips every replica can read, behind each local cache.

A cut is written here under its cache key once it is committed locally
(write-through), and a replica that misses locally copies the object from
here before it would cut (read-before-cut), so one cut serves the fleet and
survives the machine that made it. Objects appear whole or not at all: the
directory store renames a finished temp file into place, and an S3 PUT is
atomic. Exports live here too, under their own prefix.

``ORIGIN_CLIP_STORE`` names it: a directory or ``s3://bucket/prefix``
(:func:`open_store`). Every method blocks; the pool calls them in threads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

#: What a clip's cache key says about it: ``c<clip id>-v<version>-…``.
_CLIP_KEY = re.compile(r"^c(\d+)-v(\d+)-")


class StoreError(OSError):
    """The store could not be read or written; the message names the store, not secrets."""


@dataclass(frozen=True)
class StoredClip:
    """One clip object in the store."""

    key: str
    size: int
    last_used: float  # epoch seconds: written, or last copied into a replica's cache

    @property
    def clip_version(self) -> tuple[int, int] | None:
        """(clip id, version) from the key, or None for a key of another shape."""
        match = _CLIP_KEY.match(self.key)
        return (int(match.group(1)), int(match.group(2))) if match else None


class ClipStore(Protocol):
    """Where finished clips and exports are shared; see the module docstring."""

    @property
    def uri(self) -> str:
        """Where the store is, for logs and status (no secrets)."""
        ...

    def fetch(self, key: str, dest: Path) -> bool:
        """Copy the clip ``key`` into ``dest`` (an existing file); False if it is not stored.

        A fetch counts as a use for the store's LRU.
        """
        ...

    def put(self, key: str, path: Path) -> None:
        """Store the finished file ``path`` as ``key``, whole or not at all."""
        ...

    def contains(self, key: str) -> bool:
        """True if ``key`` is stored."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens if it is not stored."""
        ...

    def clips(self) -> Iterator[StoredClip]:
        """Every stored clip (not the exports)."""
        ...

    def put_export(self, name: str, path: Path) -> str:
        """Store an export file under ``name`` (``<id>/<file name>``); return where it went."""
        ...

    def export_url(self, name: str, ttl_s: int) -> str | None:
        """A time-limited download URL for an export, or None if the origin must serve it."""
        ...

    def export_path(self, name: str) -> Path | None:
        """The local file of an export the origin serves itself, if it exists."""
        ...


def open_store(spec: str, *, s3_endpoint_url: str | None = None) -> ClipStore:
    """The store named by ``ORIGIN_CLIP_STORE``: a directory, or ``s3://bucket/prefix``."""
    parsed = urlparse(spec)
    if parsed.scheme == "s3":
        from pool.store.s3 import S3Store

        if not parsed.netloc:
            raise StoreError(f"expected s3://bucket/prefix, got {spec}")
        return S3Store(parsed.netloc, parsed.path.strip("/"), endpoint_url=s3_endpoint_url)
    if parsed.scheme not in ("", "file"):
        raise StoreError(f"unsupported clip store {spec!r}: use a directory or s3://bucket/prefix")
    from pool.store.directory import DirectoryStore

    return DirectoryStore(Path(parsed.path if parsed.scheme else spec).expanduser().resolve())
