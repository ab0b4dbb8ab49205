"""Per-request and per-run observation: request ids, access lines, metrics, run lines."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import TYPE_CHECKING, Any, Literal

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from origin.metrics import Metrics
from pool.process import RunResult
from pool.request import ClipRequest

if TYPE_CHECKING:
    from pool.cutting.smart_cut import SmartCutReport
    from pool.cutting.smart_plan import SmartCutUnsupported

log = structlog.get_logger("origin")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


Outcome = Literal["complete", "client_gone", "shutdown", "failed"]


class RequestObserver:
    """ASGI middleware: request id, one access line and the request metrics per request.

    The access line says what the client got: ``bytes`` handed to the
    connection while the client was still there (bytes still in kernel buffers
    when a connection drops are counted, at most a socket buffer's worth), and
    an ``outcome``: ``complete``; ``client_gone`` (the client left first);
    ``shutdown`` (the server stopped it: the grace period after SIGTERM ran
    out); ``failed`` (the app raised; after the headers, the client saw a cut
    connection, never a clean end).

    The path is logged without its query string: a signed URL's token must
    never reach the logs.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering
        ttfb: float | None = None
        sent = 0
        finished = False  # the last body message was handed over
        disconnected = False  # the client left before that
        recorded = False

        def record(outcome: Outcome) -> None:
            # Runs before the last body message goes out, so a client that has
            # read the whole response already finds it in /metrics.
            nonlocal recorded
            if recorded:
                return
            recorded = True
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request_seconds.labels(route, str(status)).observe(elapsed)
            self.metrics.response_bytes.labels(route).inc(sent)
            self.metrics.responses.labels(outcome).inc()
            cache = scope.get("state", {}).get("cache")
            if cache is not None and ttfb is not None:
                self.metrics.ttfb.labels(cache).observe(ttfb)
            log.info(
                "request", method=scope["method"], path=scope["path"], route=route,
                status=status, duration_s=round(elapsed, 6), bytes=sent, outcome=outcome,
                cache=cache,
            )  # fmt: skip

        async def observed_receive() -> Message:
            nonlocal disconnected
            message = await receive()
            # Starlette's file and streaming responses listen for this while
            # they send; after it, uvicorn drops whatever is sent.
            if message["type"] == "http.disconnect" and not finished:
                disconnected = True
            return message

        async def observed_send(message: Message) -> None:
            nonlocal status, ttfb, sent, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                ttfb = time.perf_counter() - started
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            elif message["type"] == "http.response.body" and not disconnected:
                sent += len(message.get("body", b""))
                if not message.get("more_body", False):
                    finished = True
                    record("complete")
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, observed_receive, observed_send)
            except asyncio.CancelledError:
                # uvicorn cancels a request only when the shutdown grace ran out.
                record("shutdown")
                raise
            except BaseException:
                record("failed")
                raise
            record("complete" if finished else "client_gone")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _clip_fields(request: ClipRequest) -> dict[str, Any]:
    """Which clip a run or cut line is about."""
    return {
        "clip_id": request.clip_id, "version": request.version,
        "start": float(request.start), "end": float(request.end),
    }  # fmt: skip


class RunObserver:
    """Called by the clip pool after every ffmpeg run: metrics and one log line."""

    def __init__(self, metrics: Metrics, leakage_warn_s: float) -> None:
        self.metrics = metrics
        self.leakage_warn_s = leakage_warn_s

    def __call__(self, request: ClipRequest, result: RunResult) -> None:
        m = self.metrics
        m.runs.labels(request.form, result.outcome).inc()
        m.run_seconds.labels(request.form).observe(result.run_s)
        if result.startup_s is not None:
            m.startup.labels(request.form).observe(result.startup_s)
        leakage = request.leakage
        fields: dict[str, Any] = {
            **_clip_fields(request), "mode": request.form,
            "keyframe_start": None if request.keyframe_start is None
            else float(request.keyframe_start),
            "leakage_s": None if leakage is None else float(leakage),
            # The edit list hides the pre-roll in file mode; fragments show it.
            "leakage_visible": request.mode == "pipe",
            "startup_s": result.startup_s, "run_s": round(result.run_s, 6),
            "bytes": result.bytes_out, "exit_status": result.exit_status,
            "outcome": result.outcome,
        }  # fmt: skip
        # A smart cut's leakage (none) is recorded once per cut, by smart_cut.
        if leakage is not None and result.outcome == "ok" and not request.smart:
            m.leakage.labels(request.form).observe(float(leakage))
            if request.source_byte_rate:
                leaked = float(leakage) * request.source_byte_rate
                m.leakage_bytes.labels(request.form).inc(leaked)
                fields["leakage_bytes_estimate"] = round(leaked)
        if result.outcome not in ("ok", "client_gone"):
            fields["stderr"] = result.last_stderr_line
            log.warning("ffmpeg_run", **fields)
        elif leakage is not None and leakage > self.leakage_warn_s:
            log.warning("ffmpeg_run", leakage_above_s=self.leakage_warn_s, **fields)
        else:
            log.info("ffmpeg_run", **fields)

    def smart_cut(
        self, request: ClipRequest, outcome: SmartCutReport | SmartCutUnsupported
    ) -> None:
        """Called by the clip pool after every smart cut, done or given up."""
        m = self.metrics
        fields = _clip_fields(request)
        from pool.cutting.smart_plan import SmartCutUnsupported  # loaded by the cut

        if isinstance(outcome, SmartCutUnsupported):
            m.smartcut_fallbacks.labels(outcome.reason).inc()
            log.warning("smart_cut_fallback", reason=outcome.reason, detail=str(outcome), **fields)
            return
        m.leakage.labels("smart").observe(0)
        m.smartcut_reencoded.observe(outcome.reencoded_s)
        m.smartcut_source_bytes.inc(outcome.source_bytes_read)
        log.info(
            "smart_cut", frames=outcome.frames, copied_frames=outcome.copied_frames,
            reencoded_s=round(outcome.reencoded_s, 6), leakage_s=0.0,
            source_bytes_read=outcome.source_bytes_read, **fields,
        )  # fmt: skip
