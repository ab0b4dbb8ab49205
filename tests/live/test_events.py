"""Live clip changes (``/api/sources/{id}/events``) across real replicas, the CLI and outages."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from tests.conftest import StandaloneDatabase
from tests.servers import Server, ServerFactory, register

pytestmark = pytest.mark.anyio

#: How soon an edit must reach a page open on another replica.
PROMPT_S = 1.0


@dataclass(frozen=True)
class Event:
    """One server-sent event, with when it arrived."""

    name: str
    data: dict[str, Any]
    at: float


class EventStream:
    """An open event stream: its response, and its events as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.ended = anyio.Event()
        self.comments = 0
        send, receive = anyio.create_memory_object_stream[Event](100)
        self._send: MemoryObjectSendStream[Event] = send
        self._receive: MemoryObjectReceiveStream[Event] = receive

    async def read(self) -> None:
        name: str | None = None
        data: list[str] = []
        with contextlib.suppress(httpx.ReadError, httpx.RemoteProtocolError):
            async for line in self.response.aiter_lines():
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("event:"):
                    name = line.removeprefix("event:").strip()
                elif line.startswith("data:"):
                    data.append(line.removeprefix("data:").strip())
                elif not line and name is not None:
                    event = Event(name, json.loads("\n".join(data)), time.monotonic())
                    await self._send.send(event)
                    name, data = None, []
        self.ended.set()

    async def next(self, timeout_s: float) -> Event:
        """The next event; fails after ``timeout_s``."""
        with anyio.fail_after(timeout_s):
            return await self._receive.receive()

    async def nothing_for(self, seconds: float) -> None:
        """Fail if any event arrives within ``seconds``."""
        with anyio.move_on_after(seconds):
            event = await self._receive.receive()
            raise AssertionError(f"unexpected event {event}")


@contextlib.asynccontextmanager
async def event_stream(server: Server, source_id: int) -> AsyncIterator[EventStream]:
    """``GET /api/sources/{source_id}/events``, read in the background until the block ends."""
    timeout = httpx.Timeout(10, read=None)
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=timeout) as http,
        http.stream("GET", f"/api/sources/{source_id}/events") as response,
    ):
        stream = EventStream(response)
        async with anyio.create_task_group() as group:
            group.start_soon(stream.read)
            yield stream
            group.cancel_scope.cancel()


async def metric(server: Server, name: str) -> float:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


async def until_metric(server: Server, name: str, value: float, timeout_s: float) -> None:
    with anyio.fail_after(timeout_s):
        while await metric(server, name) != value:  # noqa: ASYNC110 (polling another process)
            await anyio.sleep(0.05)


async def cli(database_url: str, *args: str) -> None:
    """Run ``python -m origin <args>`` against ``database_url``."""
    env = {"DATABASE_URL": database_url, "PATH": os.environ["PATH"]}
    await anyio.run_process([sys.executable, "-m", "origin", *args], env=env)


async def split(server: Server, clip_id: int, at: float) -> float:
    """Split through ``server``'s API; return when the edit was committed."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        answer = await http.post(f"/api/clips/{clip_id}/split", json={"at": at})
    assert answer.status_code == 200, answer.text
    return time.monotonic()


async def test_edits_from_any_replica_or_the_cli_reach_open_streams(
    database_url: str, sample_video: Path, server_factory: ServerFactory, tmp_path: Path
) -> None:
    watched = register(database_url, sample_video)
    other_file = tmp_path / "other.mp4"
    shutil.copyfile(sample_video, other_file)
    other = register(database_url, other_file)
    a, b = server_factory(database_url), server_factory(database_url)
    await until_metric(a, "origin_live_listening", 1, timeout_s=10)
    source_id = watched["id"]

    async with event_stream(a, source_id) as stream:
        headers = stream.response.headers
        assert stream.response.status_code == 200
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["cache-control"] == "no-store"
        ready = await stream.next(5)
        assert (ready.name, ready.data) == ("ready", {"source_id": source_id})
        assert await metric(a, "origin_live_streams") == 1

        # An edit through the other replica's API.
        committed = await split(b, watched["clips"][0]["id"], 4)
        event = await stream.next(PROMPT_S + 1)
        assert (event.name, event.data) == ("clips", {"source_id": source_id})
        assert event.at - committed < PROMPT_S

        # An edit with the CLI.
        await cli(database_url, "clips", "split", str(watched["clips"][1]["id"]), "15")
        exited = time.monotonic()
        event = await stream.next(PROMPT_S + 1)
        assert (event.name, event.data) == ("clips", {"source_id": source_id})
        assert event.at - exited < PROMPT_S

        # Another source's edits are not this stream's business.
        await split(b, other["clips"][0]["id"], 5)
        await cli(database_url, "clips", "merge", str(other["clips"][1]["id"]))
        await stream.nothing_for(0.5)

    # The page left: its subscription is gone.
    await until_metric(a, "origin_live_streams", 0, timeout_s=5)


async def test_unknown_sources_are_404_before_any_stream(
    database_url: str, server_factory: ServerFactory
) -> None:
    server = server_factory(database_url)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        for path in ("/api/sources/7/events", "/api/sources/0/events"):
            answer = await http.get(path)
            assert answer.status_code == 404
            assert answer.headers["content-type"] == "application/json"
            assert set(answer.json()) == {"error"}
        assert (await http.get("/api/sources/x/events")).status_code == 400


async def test_sigterm_ends_open_streams_at_once(
    database_url: str, sample_video: Path, server_factory: ServerFactory
) -> None:
    source_id = register(database_url, sample_video)["id"]
    server = server_factory(database_url, ORIGIN_SHUTDOWN_GRACE_S="20")
    async with event_stream(server, source_id) as stream:
        assert (await stream.next(5)).name == "ready"
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        with anyio.fail_after(5):
            await stream.ended.wait()
    with anyio.fail_after(5):
        await anyio.to_thread.run_sync(server.process.wait)
    # Well inside the 20 s grace uvicorn would otherwise wait for the stream.
    assert time.monotonic() - signalled < 4
    assert server.process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    [request] = [
        line for line in lines
        if line.get("event") == "request" and line["route"] == "/api/sources/{source_id}/events"
    ]  # fmt: skip
    assert request["status"] == 200
    assert request["outcome"] == "complete"  # a proper end of body, not a cut connection
    assert not [line for line in lines if line.get("level") == "error"]


async def test_streams_survive_a_database_restart(
    standalone_database: StandaloneDatabase, sample_video: Path, server_factory: ServerFactory
) -> None:
    dsn = standalone_database.dsn
    added = register(dsn, sample_video)
    source_id = added["id"]
    # The server starts, and serves what it can, while PostgreSQL is down.
    standalone_database.stop()
    server = server_factory(dsn)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        down = await http.get(f"/api/sources/{source_id}/events")
    assert down.status_code == 503
    assert down.headers["retry-after"] == "5"
    assert await metric(server, "origin_live_listening") == 0

    standalone_database.start()
    await until_metric(server, "origin_live_listening", 1, timeout_s=10)
    async with event_stream(server, source_id) as stream:
        assert (await stream.next(5)).name == "ready"
        await anyio.to_thread.run_sync(standalone_database.stop)
        await until_metric(server, "origin_live_listening", 0, timeout_s=5)
        await anyio.to_thread.run_sync(standalone_database.start)
        # Changes made while nobody listened are not known: the page is told
        # to read its clips again once the server listens again.
        resync = await stream.next(10)
        assert (resync.name, resync.data) == ("clips", {"source_id": source_id})
        await cli(dsn, "clips", "split", str(added["clips"][0]["id"]), "3")
        exited = time.monotonic()
        event = await stream.next(PROMPT_S + 1)
        assert event.name == "clips"
        assert event.at - exited < PROMPT_S
