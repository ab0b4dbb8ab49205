"""``GET /api/sources/{id}/events``: a server-sent event stream of one source's clip changes.

The stream says ``ready`` once subscribed, then ``clips`` each time the
source's clips change (from any replica or the CLI: origin/live.py); a page
reads ``/api/sources/{id}/clips`` again on each. A comment line every few
seconds keeps proxies from closing an idle stream. On SIGTERM the stream
ends at once, with a proper end of body, so uvicorn's graceful shutdown is not
held up by pages that would never close it; browsers reconnect (to another
replica) by themselves, and get ``ready`` again: changes made in between are
read then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
from starlette.requests import Request
from starlette.responses import Response

from origin.live import Subscription
from origin.routes.sources import requested_source
from origin.state import app_state

if TYPE_CHECKING:
    from sse_starlette import ServerSentEvent

#: Seconds between keep-alive comments (proxies commonly drop streams idle for 30-60 s).
PING_S = 10
#: How long (ms) a browser waits before reconnecting a stream that ended.
RETRY_MS = 2000
#: After SIGTERM, how long the stream may take to end by itself before it is cancelled.
SHUTDOWN_GRACE_S = 1.0


async def _next_change(subscription: Subscription, stop: anyio.Event) -> bool:
    """True when the source's clips changed; False when the stream must end."""
    changed = False
    async with anyio.create_task_group() as group:

        async def change() -> None:
            nonlocal changed
            changed = await subscription.next()
            group.cancel_scope.cancel()

        async def stopping() -> None:
            await stop.wait()
            group.cancel_scope.cancel()

        group.start_soon(change)
        group.start_soon(stopping)
    return changed and not stop.is_set()


async def source_events(request: Request) -> Response:
    """GET /api/sources/{id}/events"""
    # Loaded by the first stream, not at start-up: no page is open on a server that just started.
    from sse_starlette import EventSourceResponse, JSONServerSentEvent, ServerSentEvent

    state = app_state(request)
    source_id = (await requested_source(request, state)).id
    hub = state.clip_events
    shutdown = anyio.Event()  # set by sse-starlette when uvicorn starts shutting down
    payload = {"source_id": source_id}

    async def events() -> AsyncIterator[ServerSentEvent]:
        # Subscribed before "ready" goes out: a change made after the page
        # saw "ready" (and read the clips) always reaches it.
        with hub.subscribe(source_id) as subscription:
            yield JSONServerSentEvent(payload, event="ready", retry=RETRY_MS, sep="\n")
            while await _next_change(subscription, shutdown):
                yield JSONServerSentEvent(payload, event="clips", sep="\n")

    return EventSourceResponse(
        events(),
        headers={"Cache-Control": "no-store"},
        ping=PING_S,
        ping_message_factory=lambda: ServerSentEvent(comment="ping", sep="\n"),
        sep="\n",
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_S,
    )
