"""HTTP errors: one type per failure, with its status and a public message."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

SHORT_MAX_AGE = "public, max-age=10"


class HttpError(Exception):
    """An expected failure with the status code and message a client sees."""

    def __init__(
        self, status: int, message: str, *, cache_control: str = "no-store",
        headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status = status
        self.message = message
        self.cache_control = cache_control
        self.headers = headers or {}


def error_response(
    status: int, message: str, *, cache_control: str = "no-store",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:  # fmt: skip
    """``{"error": message}`` with the given status and caching."""
    return JSONResponse(
        {"error": message},
        status_code=status,
        headers={"Cache-Control": cache_control, **(headers or {})},
    )
