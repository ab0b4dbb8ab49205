"""The clip store as a directory: one file per clip, renamed into place when whole.

On the same filesystem as the local cache, a put or fetch is a hard link
(no bytes copied); across filesystems it is a copy into a temp file that is
renamed into place. A fetch sets the file's mtime, which is the store's LRU
clock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from pool.store import StoredClip, StoreError

_TEMP_SUFFIX = ".tmp"


class DirectoryStore:
    """Clips under ``<root>/clips``, exports under ``<root>/exports``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._clips = root / "clips"
        self._exports = root / "exports"

    @property
    def uri(self) -> str:
        return str(self.root)

    def fetch(self, key: str, dest: Path) -> bool:
        source = self._clip_path(key)
        try:
            _link_or_copy(source, dest, replace=True)
            os.utime(source)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"cannot read {key} from {self.uri}: {exc.strerror}") from exc
        return True

    def put(self, key: str, path: Path) -> None:
        self._place(path, self._clip_path(key))

    def contains(self, key: str) -> bool:
        return self._clip_path(key).is_file()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._clip_path(key).unlink()

    def clips(self) -> Iterator[StoredClip]:
        if not self._clips.is_dir():
            return
        for entry in os.scandir(self._clips):
            if entry.name.endswith(_TEMP_SUFFIX):
                continue
            with contextlib.suppress(FileNotFoundError):
                st = entry.stat()
                yield StoredClip(_key_of(entry.name), st.st_size, st.st_mtime)

    def put_export(self, name: str, path: Path) -> str:
        final = self._export_file(name)
        self._place(path, final)
        return str(final)

    def export_url(self, name: str, ttl_s: int) -> str | None:
        return None  # the origin serves these files itself

    def export_path(self, name: str) -> Path | None:
        path = self._export_file(name)
        return path if path.is_file() else None

    def remove_stale_temps(self, max_age_s: float) -> int:
        """Delete temp files a crashed writer left behind; return how many."""
        removed = 0
        cutoff = time.time() - max_age_s
        for directory in (self._clips, self._exports):
            for temp in directory.rglob("*" + _TEMP_SUFFIX) if directory.is_dir() else ():
                with contextlib.suppress(FileNotFoundError):
                    if temp.stat().st_mtime < cutoff:
                        temp.unlink()
                        removed += 1
        return removed

    def _place(self, path: Path, final: Path) -> None:
        try:
            place_whole(path, final, link=True)
        except OSError as exc:
            raise StoreError(f"cannot write {final.name} to {self.uri}: {exc.strerror}") from exc

    def _clip_path(self, key: str) -> Path:
        return self._clips / _file_name(key)

    def _export_file(self, name: str) -> Path:
        path = (self._exports / name).resolve()
        if not path.is_relative_to(self._exports.resolve()):
            raise StoreError(f"unsafe export name {name!r}")
        return path


def place_whole(path: Path, final: Path, *, link: bool) -> None:
    """Put a copy of ``path`` at ``final`` whole or not at all: a hidden temp file beside
    it, then a rename. With ``link``, a hard link where the filesystem allows one (the
    store's own files; never a file someone else may edit). Raises OSError.
    """
    temp = final.with_name(f".{final.name}.{secrets.token_hex(6)}{_TEMP_SUFFIX}")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        if link:
            _link_or_copy(path, temp, replace=False)
        else:
            shutil.copyfile(path, temp)
        os.replace(temp, final)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


def _file_name(key: str) -> str:
    if "/" in key or key.startswith("."):
        raise StoreError(f"unsafe clip key {key!r}")
    return key if key.endswith(".jpg") else key + ".mp4"


def _key_of(name: str) -> str:
    return name.removesuffix(".mp4")


def _link_or_copy(source: Path, dest: Path, *, replace: bool) -> None:
    """Hard-link ``source`` as ``dest`` (copying across filesystems)."""
    if replace:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
    try:
        os.link(source, dest)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copyfile(source, dest)
