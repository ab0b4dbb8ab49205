"""``origin sources``: register a source (probe, cut into clips, queue the warming), list them."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from typing import TYPE_CHECKING

from db.errors import EditRefused
from db.tiling import to_time
from origin.cli.output import print_clips, print_json
from origin.shapes import clip_json, source_json

if TYPE_CHECKING:
    from db.connection import Connection
    from origin.settings import Settings


def _parse_cuts(raw: str) -> list[Decimal]:
    parts = [p for p in raw.split(",") if p.strip()]
    if not parts:
        raise EditRefused("--cuts needs at least one time, e.g. --cuts 10,25.5")
    return [to_time(p, what="cut") for p in parts]


async def cmd_sources_add(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    """Probe and store a source, cut it into clips and queue their warming."""
    from origin.jobs.app import job_queue
    from origin.registration import register_source
    from origin.wiring import source_resolver
    from pool.ffmpeg_binary import find_ffmpeg

    registered = await register_source(
        conn,
        args.uri,
        ffmpeg=find_ffmpeg(settings.ffmpeg),
        sources=source_resolver(settings),
        every=to_time(args.every, what="--every") if args.every is not None else None,
        cuts=_parse_cuts(args.cuts) if args.cuts is not None else None,
    )
    source, clips = registered.source, registered.clips
    async with job_queue(args.dsn, settings) as jobs:
        warming = await jobs.warm(clips)
    for warning in registered.warnings:
        print(f"origin: warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(
            {
                **source_json(source),
                "clips": [clip_json(c, settings.signing_key_list) for c in clips],
                "warnings": registered.warnings,
                "probe": registered.probe,
                "probe_bytes": registered.probe_bytes,
            }
        )
        return
    audio = source.audio_codec or "no audio"
    print(
        f"source {source.id}: {source.uri} ({source.duration} s, "
        f"{source.display_width}x{source.display_height} {source.video_codec}/{audio}, "
        f"{len(source.keyframes)} keyframes, {len(clips)} clips, {source.precision} cut)"
    )
    if warming:
        print(f"queued {warming} warm jobs: clips reach the store as a worker cuts them")
    print_clips(clips, settings)


async def cmd_sources_list(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    """List the registered sources."""
    from db import sources as source_store

    sources = await source_store.list_sources(conn)
    if args.json:
        print_json([source_json(s) for s in sources])
        return
    for s in sources:
        print(f"source {s.id:<4} {s.duration:>12} s  {s.clip_count:>5} clips  {s.uri}")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sources add`` and ``sources list``."""
    sources = commands.add_parser("sources", help="register and list source videos")
    src_commands = sources.add_subparsers(dest="sources_command", required=True, metavar="COMMAND")
    add = src_commands.add_parser("add", help="probe a source and cut it into clips")
    add.add_argument("uri", help="path, file://… or s3://bucket/key")
    how = add.add_mutually_exclusive_group()
    how.add_argument("--every", metavar="S", help="cut every S seconds (default 10)")
    how.add_argument("--cuts", metavar="T1,T2,…", help="cut at these source times")
    add.add_argument("--json", action="store_true")
    add.set_defaults(db=cmd_sources_add)
    listing = src_commands.add_parser("list", help="list sources")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(db=cmd_sources_list)
