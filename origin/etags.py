"""Strong ETags from a cached clip's content.

Starlette's default ETag hashes mtime and size, which differ between replicas
that cut the same clip; a content hash is the same everywhere, as the bytes are.
"""

from __future__ import annotations

import collections
import hashlib
import os
from pathlib import Path

import anyio

_MEMO_SIZE = 4096
_memo: collections.OrderedDict[tuple[str, int, int, int], str] = collections.OrderedDict()


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return f'"{digest.hexdigest()[:32]}"'


async def content_etag(path: Path, stat: os.stat_result) -> str:
    """The quoted ETag of the file at ``path``, hashed once per file version."""
    key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    etag = _memo.get(key)
    if etag is None:
        etag = await anyio.to_thread.run_sync(_hash_file, path)
        _memo[key] = etag
        if len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
    else:
        _memo.move_to_end(key)
    return etag
