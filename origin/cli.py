"""The ``origin`` command line (also ``python -m origin``).

User errors print one line, ``origin: error: …``, and exit 1; usage errors
exit 2 (argparse). Tracebacks are for bugs only.

Each command imports what it needs when it runs: ``origin serve`` starts
(and answers its first probe) without loading what only the other commands
use, such as the job queue's procrastinate or the registration's probing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from db.errors import EditRefused, NotFound, SourceExists
from db.tiling import to_time
from origin.jobs import QUEUES
from origin.settings import Settings, SettingsError, settings_help
from origin.shapes import clip_json, source_json
from origin.urls import DEFAULT_TTL_S, clip_stream_url

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from db.connection import Connection
    from db.exports import ExportRecord
    from db.records import ClipRecord, EditResult

    DbCommand = Callable[[Connection, argparse.Namespace, Settings], Awaitable[None]]


class CliError(Exception):
    """A user error raised by the CLI itself."""


def user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that print one line and exit 1 (imported only once one is raised)."""
    from db.embedded import EmbeddedPostgresError
    from pool.cache import CacheDirectoryBusy
    from pool.ffmpeg_binary import FfmpegNotFound
    from pool.sources.locations import SourceError
    from pool.sources.probe import ProbeError
    from pool.store import StoreError

    return (
        NotFound, EditRefused, SourceExists, SourceError, ProbeError, FfmpegNotFound,
        EmbeddedPostgresError, SettingsError, CliError, CacheDirectoryBusy, StoreError,
    )  # fmt: skip


# -- output ---------------------------------------------------------------


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _print_clips(clips: Sequence[ClipRecord], settings: Settings) -> None:
    for clip in clips:
        print(
            f"clip {clip.id:<6} source {clip.source_id:<4} [{clip.start:>12}, {clip.end:>12})"
            f"  v{clip.version:<4} {clip_stream_url(clip, settings.signing_key_list)}"
        )


def _print_edit(result: EditResult, settings: Settings) -> None:
    if not result.changed and not result.removed:
        print("nothing to change")
    _print_clips(result.changed, settings)
    for clip_id in result.removed:
        print(f"clip {clip_id:<6} removed")


# -- commands ---------------------------------------------------------------


def _parse_cuts(raw: str) -> list[Decimal]:
    parts = [p for p in raw.split(",") if p.strip()]
    if not parts:
        raise EditRefused("--cuts needs at least one time, e.g. --cuts 10,25.5")
    return [to_time(p, what="cut") for p in parts]


async def cmd_sources_add(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
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
        _print_json(
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
    _print_clips(clips, settings)


async def cmd_sources_list(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    from db import sources as source_store

    sources = await source_store.list_sources(conn)
    if args.json:
        _print_json([source_json(s) for s in sources])
        return
    for s in sources:
        print(f"source {s.id:<4} {s.duration:>12} s  {s.clip_count:>5} clips  {s.uri}")


async def cmd_clips_list(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    from db import clips as clip_store
    from db import sources as source_store

    if args.source is not None:
        await source_store.get_source(conn, args.source)  # NotFound for an unknown source
    clips = await clip_store.list_clips(conn, args.source)
    if args.json:
        _print_json([clip_json(c, settings.signing_key_list) for c in clips])
        return
    _print_clips(clips, settings)


async def _after_edit(
    conn: Connection, args: argparse.Namespace, settings: Settings, result: EditResult
) -> None:
    from db import clips as clip_store
    from origin.jobs.app import job_queue

    _print_edit(result, settings)
    if result.changed:
        source_clips = await clip_store.list_clips(conn, result.changed[0].source_id)
        async with job_queue(args.dsn, settings) as jobs:
            await jobs.warm_after_edit(result.changed, source_clips)


async def cmd_clips_split(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    from db import clips as clip_store

    result = await clip_store.split(conn, args.clip, to_time(args.at, what="AT"))
    await _after_edit(conn, args, settings, result)


async def cmd_clips_merge(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    from db import clips as clip_store

    await _after_edit(conn, args, settings, await clip_store.merge(conn, args.clip))


async def cmd_clips_move_cut(
    conn: Connection, args: argparse.Namespace, settings: Settings
) -> None:
    from db import clips as clip_store

    result = await clip_store.move_cut(conn, args.clip, to_time(args.at, what="AT"))
    await _after_edit(conn, args, settings, result)


async def cmd_clips_export(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    from origin.jobs.app import job_queue
    from origin.jobs.exports import follow_export, request_export

    if args.to is None and settings.clip_store_spec is None:
        raise CliError("there is no clip store to export to (ORIGIN_CLIP_STORE=none): pass --to")
    async with job_queue(args.dsn, settings) as jobs:
        export = await request_export(conn, jobs, args.clip, args.to)
    if args.no_wait:
        _report_export(export, args)
        return
    _report_export(await follow_export(conn, export), args)


def _report_export(export: ExportRecord, args: argparse.Namespace) -> None:
    from origin.jobs.exports import export_json

    if args.json:
        _print_json(export_json(export))
    elif export.status == "done":
        print(f"export {export.id}: {export.location} ({export.size_bytes} bytes)")
    else:
        print(f"export {export.id}: {export.status} ({export.file_name}); "
              f"follow it with GET /api/exports/{export.id}")  # fmt: skip
    if export.status == "failed":
        raise CliError(f"export {export.id} failed: {export.error}")


async def cmd_url(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    if args.ttl is not None and args.ttl <= 0:
        raise CliError("--ttl must be a positive number of seconds")
    from db import clips as clip_store

    clip = await clip_store.get_clip(conn, args.clip)
    print(clip_stream_url(clip, settings.signing_key_list, args.ttl or DEFAULT_TTL_S))


async def cmd_db_up(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    from db.migrate import migrate

    applied = await migrate(conn)
    print("applied " + ", ".join(applied) if applied else "database is up to date")


# -- commands that manage processes rather than rows ------------------------


def cmd_db_stop(args: argparse.Namespace, settings: Settings) -> None:
    """Stop the private cluster."""
    if settings.database_url:
        raise CliError("DATABASE_URL is set: there is no private cluster to stop")
    from db.embedded import private_cluster

    stopped = private_cluster(settings.home).stop()
    print("stopped the private cluster" if stopped else "the private cluster is not running")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    """Run the HTTP server."""
    # Loading the server makes tens of thousands of objects that live as long
    # as it does: the cyclic collector would run about a hundred times while
    # they load, and free nearly nothing (~13 ms of CPU here, before the first
    # answer). It runs as usual from then on.
    gc.disable()
    try:
        from origin.server import serve
    finally:
        gc.enable()
    serve(settings, host=args.host, port=args.port)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> None:
    """Run a job worker."""
    from origin.jobs.worker import run_worker

    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown or not queues:
        raise CliError(f"--queues takes some of {','.join(QUEUES)}, got {args.queues!r}")
    if args.concurrency < 1:
        raise CliError("--concurrency must be at least 1")
    metrics = None if args.metrics_port is None else (args.metrics_host, args.metrics_port)
    run_worker(settings, queues=queues, concurrency=args.concurrency, metrics_at=metrics)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    """Set up and serve the demo."""
    from origin.demo import run_demo

    run_demo(settings, port=args.port, source=args.source)


# -- wiring -----------------------------------------------------------------


def _positive_id(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an id: {raw!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"ids are positive integers, got {raw!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``origin`` command."""
    parser = argparse.ArgumentParser(
        prog="origin",
        description="Heaters Origin: virtual video clips served as standalone MP4 files.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    # Fly (and most container platforms) say which port to listen on in $PORT.
    serve.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8000")),
        help="default: $PORT, else 8000",
    )  # fmt: skip
    serve.set_defaults(run=cmd_serve)

    worker = commands.add_parser("worker", help="run background jobs (warm, export, maintenance)")
    worker.add_argument(
        "--queues",
        default=",".join(QUEUES),
        metavar="Q1,Q2",
        help=f"queues to take jobs from (default {','.join(QUEUES)})",
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        default=None,
        help="jobs at once (default ORIGIN_WORKER_CONCURRENCY)",
    )
    worker.add_argument(
        "--metrics-port", type=int, metavar="P", help="serve Prometheus metrics on port P"
    )
    worker.add_argument(
        "--metrics-host", default="127.0.0.1", metavar="H",
        help="address of the metrics port (default 127.0.0.1)",
    )  # fmt: skip
    worker.set_defaults(run=cmd_worker)

    demo = commands.add_parser("demo", help="private database + sample video + server")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--source", help="register this file instead of the generated sample")
    demo.set_defaults(run=cmd_demo)

    db = commands.add_parser("db", help="database schema and the private cluster")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    db_commands.add_parser("up", help="apply migrations (idempotent)").set_defaults(db=cmd_db_up)
    db_commands.add_parser("stop", help="stop the private cluster").set_defaults(run=cmd_db_stop)

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

    clips = commands.add_parser("clips", help="list and edit clips")
    clip_commands = clips.add_subparsers(dest="clips_command", required=True, metavar="COMMAND")
    clip_list = clip_commands.add_parser("list", help="list clips")
    clip_list.add_argument("--source", type=_positive_id, metavar="ID")
    clip_list.add_argument("--json", action="store_true")
    clip_list.set_defaults(db=cmd_clips_list)
    for name, handler, text in (
        ("split", cmd_clips_split, "split CLIP at source time AT into two clips"),
        ("move-cut", cmd_clips_move_cut, "move the cut after CLIP to source time AT"),
    ):
        edit = clip_commands.add_parser(name, help=text)
        edit.add_argument("clip", type=_positive_id, metavar="CLIP")
        edit.add_argument("at", metavar="AT", help="seconds on the source's timeline")
        edit.set_defaults(db=handler)
    merge = clip_commands.add_parser("merge", help="merge CLIP with the clip that follows it")
    merge.add_argument("clip", type=_positive_id, metavar="CLIP")
    merge.set_defaults(db=cmd_clips_merge)
    export = clip_commands.add_parser(
        "export", help="write CLIP as a standalone MP4 named <source>_<start>-<end>.mp4"
    )
    export.add_argument("clip", type=_positive_id, metavar="CLIP")
    export.add_argument("--to", metavar="PATH|s3://…",
                        help="a directory, an .mp4 path (on the worker's machine) or "
                        "s3://bucket/prefix; default: the clip store")  # fmt: skip
    export.add_argument("--no-wait", action="store_true", help="queue it and return")
    export.add_argument("--json", action="store_true")
    export.set_defaults(db=cmd_clips_export)

    url = commands.add_parser("url", help="print a clip's current stream URL")
    url.add_argument("clip", type=_positive_id, metavar="CLIP")
    url.add_argument("--ttl", type=int, metavar="S", help="lifetime of a signed URL")
    url.set_defaults(db=cmd_url)
    return parser


async def _run_db_command(command: DbCommand, args: argparse.Namespace, settings: Settings) -> None:
    from db.connection import connect
    from origin.database import resolve_dsn

    dsn = await resolve_dsn(settings)
    args.dsn = dsn  # for commands that defer jobs
    conn = await connect(dsn)
    try:
        await command(conn, args, settings)
    finally:
        await conn.close()


def _database_error_message(exc: Exception) -> str | None:
    import socket

    import asyncpg

    if isinstance(exc, asyncpg.UndefinedTableError):
        return "the database has no schema yet: run 'origin db up'"
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return f"refused by the database: {exc}"
    if isinstance(exc, asyncpg.InvalidPasswordError | asyncpg.InvalidCatalogNameError):
        return f"cannot use the database: {exc}"
    if isinstance(exc, ConnectionError | socket.gaierror | TimeoutError):
        return f"cannot connect to the database: {exc}"
    return None


def error_message(exc: Exception) -> str | None:
    """The one line a user or database error prints; None for a bug (a traceback)."""
    if isinstance(exc, user_errors()):
        return str(exc)
    return _database_error_message(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``origin`` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if getattr(args, "concurrency", 0) is None:
            args.concurrency = settings.worker_concurrency
        if hasattr(args, "db"):
            import asyncio

            asyncio.run(_run_db_command(args.db, args, settings))
        else:
            args.run(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = error_message(exc)
        if message is None:
            raise
        print(f"origin: error: {message}", file=sys.stderr)
        return 1
    return 0
