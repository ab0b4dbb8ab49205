"""Random access to a source's bytes from Python, for the smart cut.

A local source is read with plain file reads. A remote one (the presigned
URL ffmpeg would get) is read with HTTP range requests that carry
``If-Match: <identity>``, like ffmpeg's: a replaced object fails the run
instead of mixing two files' bytes. The first 64 KiB are fetched once (box
headers, often the index); the span a clip needs is fetched with one request
into a spool file next to the cache, so every later read of it is local.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from pool.errors import SourceUnavailable

if TYPE_CHECKING:
    import httpx

HEAD_BYTES = 64 * 1024  # the first request: ftyp and, with +faststart, the start of moov
SMALL_READ_BYTES = 4096
HTTP_TIMEOUT_S = 15.0


class SourceReader(Protocol):
    """Reads bytes of one source."""

    size: int
    bytes_read: int  # fetched from the source itself (for metrics)

    def read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (fewer only at the end of the source)."""
        ...

    def prefetch(self, start: int, end: int) -> None:
        """Make ``[start, end)`` cheap to read; a hint, may do nothing."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...


class LocalReader:
    """A source file on the origin's disk."""

    def __init__(self, path: Path) -> None:
        try:
            self._file: BinaryIO = path.open("rb")
            self.size = os.fstat(self._file.fileno()).st_size
        except OSError as exc:
            raise SourceUnavailable(detail=f"cannot read the source: {exc.strerror}") from None
        self.bytes_read = 0

    def read_at(self, offset: int, size: int) -> bytes:
        self._file.seek(offset)
        data = self._file.read(size)
        self.bytes_read += len(data)
        return data

    def prefetch(self, start: int, end: int) -> None:
        return None

    def close(self) -> None:
        self._file.close()


class HttpReader:
    """A remote source behind a (presigned) URL that answers range requests.

    httpx is imported by the first one: a server with local sources never loads it.
    """

    def __init__(self, url: str, identity: str, spool: Path) -> None:
        import httpx

        self._url = url
        self._client = httpx.Client(timeout=HTTP_TIMEOUT_S, headers={"If-Match": identity})
        self._spool_path = spool
        self._spool: BinaryIO | None = None
        self._spooled = (0, 0)
        self.bytes_read = 0
        self._last_small: tuple[int, bytes] = (0, b"")
        self._head, self.size = self._get(0, HEAD_BYTES)

    def _get(self, start: int, end: int) -> tuple[bytes, int]:
        """GET ``[start, end)``; return the bytes and the object's total size."""
        import httpx

        try:
            response = self._client.get(self._url, headers={"Range": f"bytes={start}-{end - 1}"})
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                detail=f"cannot read the source: {type(exc).__name__}"
            ) from None
        _require_partial(response)
        total = response.headers.get("content-range", "").rpartition("/")[2]
        if not total.isdigit():
            raise SourceUnavailable(detail="source did not say its size")
        self.bytes_read += len(response.content)
        return response.content, int(total)

    def read_at(self, offset: int, size: int) -> bytes:
        lo, hi = self._spooled
        if self._spool is not None and lo <= offset and offset + size <= hi:
            self._spool.seek(offset - lo)
            return self._spool.read(size)
        if offset + size <= len(self._head):
            return self._head[offset : offset + size]
        at, last = self._last_small
        if at <= offset and offset + size <= at + len(last):
            return last[offset - at : offset - at + size]
        # A box header or a stray sample: a small request, never a whole block.
        end = min(self.size, offset + max(size, SMALL_READ_BYTES))
        data = self._get(offset, end)[0]
        if len(data) <= SMALL_READ_BYTES:
            # The next few headers (NAL units of one sample) are often in it too.
            self._last_small = (offset, data)
        return data[:size]

    def prefetch(self, start: int, end: int) -> None:
        import httpx

        end = min(end, self.size)
        if start >= end:
            return
        self._spool = self._spool_path.open("w+b")
        try:
            with self._client.stream(
                "GET", self._url, headers={"Range": f"bytes={start}-{end - 1}"}
            ) as response:
                _require_partial(response)
                for chunk in response.iter_bytes(1 << 20):
                    self._spool.write(chunk)
                    self.bytes_read += len(chunk)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                detail=f"cannot read the source: {type(exc).__name__}"
            ) from None
        if self._spool.tell() != end - start:
            raise SourceUnavailable(detail="the source ended early")
        self._spooled = (start, end)

    def close(self) -> None:
        self._client.close()
        if self._spool is not None:
            self._spool.close()


def _require_partial(response: httpx.Response) -> None:
    """Refuse anything but the 206 a range request must get (412: If-Match failed)."""
    if response.status_code == 412:
        raise SourceUnavailable(detail="the source changed since it was registered")
    if response.status_code != 206:
        raise SourceUnavailable(detail=f"source answered HTTP {response.status_code}")


def open_reader(source_input: str, identity: str, spool: Path) -> SourceReader:
    """A reader for what ffmpeg would get as ``-i``: ``file:<path>`` or an http(s) URL.

    ``identity`` is sent as ``If-Match`` on remote reads (it is the ETag
    there); ``spool`` is where a remote reader may keep fetched bytes.
    """
    if source_input.startswith("file:"):
        return LocalReader(Path(source_input.removeprefix("file:")))
    if source_input.startswith(("http://", "https://")):
        return HttpReader(source_input, identity, spool)
    raise SourceUnavailable(detail="the smart cut cannot read this kind of source")
