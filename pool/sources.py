"""Where a source video lives and how ffmpeg reaches it.

Only local files today; ``s3://`` arrives with S3 support. Everything that
reads a source goes through :func:`open_source`, so adding a scheme means
adding one class here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse


class SourceError(ValueError):
    """A source URI that cannot be used; the message is safe to show a user."""


@dataclass(frozen=True)
class SourceStat:
    """What identifies one version of a source's bytes."""

    size_bytes: int
    identity: str  # changes when the bytes may have changed (mtime+size here, ETag on S3)


class Source(Protocol):
    """A readable source video."""

    @property
    def uri(self) -> str:
        """Canonical URI stored in the database."""
        ...

    def stat(self) -> SourceStat:
        """Size and identity of the bytes now; raises SourceError when unreadable."""
        ...

    def ffmpeg_input(self) -> str:
        """What to pass to ffmpeg's ``-i``."""
        ...


@dataclass(frozen=True)
class LocalSource:
    """A file on the origin's own disk."""

    path: Path

    @property
    def uri(self) -> str:
        return self.path.as_uri()

    def stat(self) -> SourceStat:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise SourceError(f"no such file: {self.path}") from None
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror}") from None
        if not self.path.is_file():
            raise SourceError(f"not a regular file: {self.path}")
        if not os.access(self.path, os.R_OK):
            raise SourceError(f"not readable: {self.path}")
        return SourceStat(size_bytes=st.st_size, identity=f"{st.st_mtime_ns:x}-{st.st_size:x}")

    def ffmpeg_input(self) -> str:
        # "file:" stops ffmpeg from reading a name with a colon as a protocol.
        return "file:" + str(self.path)


def open_source(uri: str) -> Source:
    """Resolve a path, ``file://`` URI (or, later, ``s3://`` URI) to a Source."""
    if not uri:
        raise SourceError("empty source URI")
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise SourceError(f"file URI must be local: {uri}")
        return LocalSource(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        raise SourceError("s3:// sources are not supported yet")
    if parsed.scheme and len(parsed.scheme) > 1:  # a one-letter scheme is a Windows drive
        raise SourceError(
            f"unsupported source scheme {parsed.scheme!r}: use a path, file:// or s3://"
        )
    return LocalSource(Path(uri).expanduser().resolve())
