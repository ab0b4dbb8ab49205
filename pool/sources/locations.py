"""Where a source video lives and how ffmpeg reaches it.

Local paths and ``file://`` URIs are read directly. ``s3://bucket/key`` is read
by ffmpeg through a short-lived presigned GET URL with HTTP range requests —
never downloaded whole — and every request carries ``If-Match`` with the ETag
stored at registration, so a replaced object makes the run fail (412) instead
of serving frames from a different file. Everything that reads a source goes
through :class:`SourceResolver`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse


class SourceError(ValueError):
    """A source that cannot be used; the message is safe to show a user."""


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
        """What to pass to ffmpeg's ``-i``. May be a secret (a presigned URL): never log it."""
        ...

    def input_options(self, identity: str, expected_bytes: int | None = None) -> tuple[str, ...]:
        """ffmpeg input options for reading the source.

        They make a run fail unless the bytes still have ``identity``; with
        ``expected_bytes`` (about what the run will read) remote reads are
        sized so they do not overshoot by much.
        """
        ...

    def check_identity(self, identity: str) -> None:
        """Raise SourceError now if the bytes are known to differ from ``identity``.

        Sources that cannot check cheaply rely on :meth:`input_options` instead.
        """
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

    def input_options(self, identity: str, expected_bytes: int | None = None) -> tuple[str, ...]:
        return ()

    def check_identity(self, identity: str) -> None:
        # A stat costs microseconds: check on every request.
        if self.stat().identity != identity:
            raise SourceError(f"{self.uri} changed since it was registered")


#: ffmpeg's HTTP client: give up on a stalled read (µs), reconnect after network
#: errors but give up after about 3 s of them (the default backs off to 120 s:
#: an unreachable S3 held the request until the run timeout instead of a 503),
#: and keep one connection for the several range requests of a run.
HTTP_INPUT_OPTIONS = (
    "-rw_timeout", "15000000",
    "-reconnect", "1", "-reconnect_on_network_error", "1", "-reconnect_delay_max", "2",
    "-multiple_requests", "1",
)  # fmt: skip


#: Range request sizes for cutting from S3 (see S3Source.input_options).
INDEX_REQUEST_BYTES = 64 * 1024
MIN_REQUEST_BYTES = 64 * 1024
MAX_REQUEST_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class S3Source:
    """An object in S3 (or an S3-compatible store)."""

    bucket: str
    key: str
    client: Any  # a botocore S3 client (no type information)
    presign_ttl_s: int

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def stat(self) -> SourceStat:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise SourceError(f"no such object: {self.uri}") from None
            raise SourceError(f"cannot read {self.uri}: {code or 'S3 error'}") from None
        except BotoCoreError as exc:
            raise SourceError(f"cannot read {self.uri}: {type(exc).__name__}") from None
        return SourceStat(size_bytes=int(head["ContentLength"]), identity=str(head["ETag"]))

    def ffmpeg_input(self) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.key},
            ExpiresIn=self.presign_ttl_s,
        )
        return url

    def input_options(self, identity: str, expected_bytes: int | None = None) -> tuple[str, ...]:
        options = [*HTTP_INPUT_OPTIONS, "-headers", f"If-Match: {identity}\r\n"]
        if expected_bytes is not None:
            # Open-ended ranges make S3 send until ffmpeg hangs up: bound every
            # request to an eighth of the run, so the last one overshoots
            # little, in few enough requests (about 8) to stay fast.
            size = min(MAX_REQUEST_BYTES, max(MIN_REQUEST_BYTES, expected_bytes // 8))
            options += [
                "-initial_request_size",
                str(INDEX_REQUEST_BYTES),
                "-request_size",
                str(size),
            ]
        return tuple(options)

    def check_identity(self, identity: str) -> None:
        # No HEAD per request: If-Match on ffmpeg's own range requests checks it.
        return None


_S3_CLIENT_LOCK = threading.Lock()
_S3_CLIENTS: dict[str | None, Any] = {}


def s3_client(endpoint_url: str | None) -> Any:
    """The S3 client for ``endpoint_url``, made on first use and shared by every source
    and store; any thread may be first (boto3's default session is not thread-safe).

    The first call blocks for a few hundred ms (boto3 loads): keep it off an event loop.
    """
    client = _S3_CLIENTS.get(endpoint_url)
    if client is None:
        with _S3_CLIENT_LOCK:
            client = _S3_CLIENTS.get(endpoint_url)
            if client is None:
                client = _S3_CLIENTS[endpoint_url] = _make_s3_client(endpoint_url)
    return client


def _make_s3_client(endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    # Path-style addressing works with every S3-compatible store and any bucket name.
    config = Config(
        s3={"addressing_style": "path"} if endpoint_url else {},
        signature_version="s3v4",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=15,
    )
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


@dataclass(frozen=True)
class SourceResolver:
    """Turns stored URIs into Sources, with the S3 settings of this deployment."""

    s3_endpoint_url: str | None = None
    presign_ttl_s: int = 900

    def ready(self, uri: str) -> bool:
        """False when :meth:`open` would block first: an S3 URI before the S3 client exists."""
        return not uri.startswith("s3://") or self.s3_endpoint_url in _S3_CLIENTS

    def prepare(self, uri: str) -> None:
        """Make what :meth:`open` needs for ``uri`` (the S3 client); blocks, run it in a thread."""
        if uri.startswith("s3://"):
            s3_client(self.s3_endpoint_url)

    def open(self, uri: str) -> Source:
        """Resolve a path, ``file://`` URI or ``s3://bucket/key`` to a Source."""
        if not uri:
            raise SourceError("empty source URI")
        parsed = urlparse(uri)
        if parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise SourceError(f"file URI must be local: {uri}")
            return LocalSource(Path(unquote(parsed.path)))
        if parsed.scheme == "s3":
            key = parsed.path.lstrip("/")
            if not parsed.netloc or not key:
                raise SourceError(f"expected s3://bucket/key, got {uri}")
            return S3Source(parsed.netloc, key, s3_client(self.s3_endpoint_url), self.presign_ttl_s)
        if parsed.scheme and len(parsed.scheme) > 1:  # a one-letter scheme is a Windows drive
            raise SourceError(
                f"unsupported source scheme {parsed.scheme!r}: use a path, file:// or s3://"
            )
        return LocalSource(Path(uri).expanduser().resolve())
