"""``origin demo``: the private cluster, a generated sample cut into clips, and the server."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from types import FrameType

from db import clips as clip_store
from db import sources as source_store
from db.connection import connect
from db.embedded import private_cluster
from db.records import ClipRecord, SourceRecord
from origin.database import resolve_dsn
from origin.jobs.app import job_queue
from origin.registration import register_source
from origin.server import serve
from origin.settings import Settings
from origin.wiring import source_resolver
from pool.ffmpeg_binary import find_ffmpeg
from pool.sources.sample import make_sample


def demo_sample_path(settings: Settings) -> Path:
    """Where the generated demo video lives."""
    return settings.home / "demo" / "sample.mp4"


async def _prepare(settings: Settings, source_file: str | None) -> tuple[SourceRecord, ClipRecord]:
    ffmpeg = find_ffmpeg(settings.ffmpeg)
    if source_file is None:
        path = demo_sample_path(settings)
        if not path.exists():
            print(f"generating a 2-minute sample video at {path} …", flush=True)
            await asyncio.to_thread(make_sample, ffmpeg, path)
        source_file = str(path)
    sources = source_resolver(settings)
    uri = sources.open(source_file).uri
    dsn = await resolve_dsn(settings)
    conn = await connect(dsn)
    try:
        existing = [s for s in await source_store.list_sources(conn) if s.uri == uri]
        if existing:
            source = existing[0]
        else:
            source = (
                await register_source(conn, source_file, ffmpeg=ffmpeg, sources=sources)
            ).source
        clips = await clip_store.list_clips(conn, source.id)
        # Already stored clips are skipped by the jobs, so a restart costs no cuts.
        async with job_queue(dsn, settings) as jobs:
            warming = await jobs.warm(clips)
    finally:
        await conn.close()
    if warming:
        print(f"warming {warming} clips in the background (warm_done lines below)", flush=True)
    first = clips[0]
    return source, first


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_demo(settings: Settings, *, port: int, source: str | None) -> None:
    """Set everything up, print where to look, serve until Ctrl-C or SIGTERM."""
    # uvicorn re-raises the signal that stopped it once it has shut down; with
    # SIGTERM's default action that would kill us before the cluster stops.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    cluster = private_cluster(settings.home)
    started_here = settings.database_url is None and cluster.running_port() is None
    try:
        registered, first = asyncio.run(_prepare(settings, source))
        base = f"http://127.0.0.1:{port}"
        print(f"review page:  {base}/review/sources/{registered.id}")
        print(f"a clip:       curl -I {base}/videos/clips/{first.id}/stream/v{first.version}")
        # A person watches the demo's terminal: readable lines unless asked otherwise.
        if "ORIGIN_LOG_FORMAT" not in os.environ:
            settings = settings.replace(log_format="console")
        # One command: the server runs the warm jobs itself.
        if "ORIGIN_WORKER" not in os.environ:
            settings = settings.replace(worker="inline")
        serve(settings, host="127.0.0.1", port=port)
    finally:
        if started_here:
            cluster.stop()
