"""Typed failures of the clip pool, each with a message that is safe to show a client.

``str(error)`` is the public message: short, and never a path, URL or ffmpeg
output (a presigned source URL carries a signature). What an operator needs to
debug a failure is in ``error.detail``, for logs only.
"""

from __future__ import annotations

import re


class PoolError(Exception):
    """Base class: the pool could not produce the clip."""

    public_message = "the clip could not be produced"

    def __init__(self, message: str | None = None, *, detail: str = "") -> None:
        super().__init__(message or self.public_message)
        self.detail = scrub(detail)  # for logs, never for clients


class Saturated(PoolError):
    """Every ffmpeg slot stayed busy for the whole queue wait (maps to 429)."""

    public_message = "too many clips are being cut right now; retry shortly"

    def __init__(self, retry_after_s: float, *, detail: str = "") -> None:
        super().__init__(detail=detail)
        self.retry_after_s = retry_after_s


class SourceUnavailable(PoolError):
    """ffmpeg could not open or read the source video."""

    public_message = "the source video is unavailable"


class RunFailed(PoolError):
    """ffmpeg exited unsuccessfully or produced nothing."""

    public_message = "cutting the clip failed"

    def __init__(
        self, exit_status: int | None, stderr_line: str = "", *, message: str | None = None
    ) -> None:
        super().__init__(message, detail=stderr_line)
        self.exit_status = exit_status  # negative: killed by that signal


class RunTimeout(RunFailed):
    """ffmpeg ran longer than the hard run timeout and was killed."""

    public_message = "cutting the clip took too long"

    def __init__(self, timeout_s: float, stderr_line: str = "") -> None:
        super().__init__(None, stderr_line)
        self.timeout_s = timeout_s


class CacheFull(PoolError):
    """The cache disk is below its free-space floor even after eviction.

    The caller can fall back to an uncached stream (``ClipPool.stream`` does so
    by itself).
    """

    public_message = "no room to store the clip"


class Preempted(PoolError):
    """A background run gave its slot to a request and stopped; try again later."""

    public_message = "background work yielded to a request"


class PoolClosed(PoolError):
    """The pool is shutting down and takes no new work."""

    public_message = "the server is shutting down"


_URL_QUERY = re.compile(r"(\w+://[^\s?]*)\?\S*")


def scrub(text: str) -> str:
    """Drop URL query strings (presigned signatures) from a log line."""
    return _URL_QUERY.sub(r"\1?…", text)
