"""Structured logs: structlog for our own lines, the same pipeline for stdlib and uvicorn.

JSON lines by default (``ORIGIN_LOG_FORMAT=console`` for humans). A request id
bound in the request's context appears on every line logged while serving it,
including the ffmpeg run it started. Signed-URL tokens and presigned-URL
signatures are scrubbed from every line as a last line of defence.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from origin.settings import LogFormat

_SECRET_PARAMS = re.compile(
    r"((?:sig|signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|"
    r"Key-Pair-Id|Policy)=)[^&\s\"']+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``…?exp=1&sig=abc`` → ``…?exp=1&sig=…`` (and the same for S3/CloudFront signatures)."""
    return _SECRET_PARAMS.sub(r"\1…", text)


def _redact_event(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


def configure_logging(log_format: LogFormat) -> None:
    """Route structlog, stdlib logging and uvicorn through one renderer on stdout."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    # httpx (the smart cut's source reads) logs every request with its URL at
    # INFO: a presigned URL, and noise; its warnings still come through.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Two lines per job and one per periodic tick would drown the request
    # lines; our own warm_done / maintenance lines and the job metrics say
    # what happened. procrastinate's warnings and errors (retries) still show.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
