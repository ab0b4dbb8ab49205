"""``origin clips`` and ``origin url``: list clips, edit their cuts, export one, print its URL."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from db.tiling import to_time
from origin.cli.errors import CliError
from origin.cli.output import print_clips, print_json
from origin.shapes import clip_json
from origin.urls import DEFAULT_TTL_S, clip_stream_url

if TYPE_CHECKING:
    from db.connection import Connection
    from db.exports import ExportRecord
    from db.records import EditResult
    from origin.settings import Settings


async def cmd_clips_list(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    """List the clips, of one source with ``--source``."""
    from db import clips as clip_store
    from db import sources as source_store

    if args.source is not None:
        await source_store.get_source(conn, args.source)  # NotFound for an unknown source
    clips = await clip_store.list_clips(conn, args.source)
    if args.json:
        print_json([clip_json(c, settings.signing_key_list) for c in clips])
        return
    print_clips(clips, settings)


async def _after_edit(
    conn: Connection, args: argparse.Namespace, settings: Settings, result: EditResult
) -> None:
    """Print what an edit changed and queue the warming of the clips it changed."""
    from db import clips as clip_store
    from origin.jobs.app import job_queue

    if not result.changed and not result.removed:
        print("nothing to change")
    print_clips(result.changed, settings)
    for clip_id in result.removed:
        print(f"clip {clip_id:<6} removed")
    if result.changed:
        source_clips = await clip_store.list_clips(conn, result.changed[0].source_id)
        async with job_queue(args.dsn, settings) as jobs:
            await jobs.warm_after_edit(result.changed, source_clips)


async def cmd_clips_split(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    """Split a clip at a source time into two."""
    from db import clips as clip_store

    result = await clip_store.split(conn, args.clip, to_time(args.at, what="AT"))
    await _after_edit(conn, args, settings, result)


async def cmd_clips_merge(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    """Merge a clip with the clip that follows it."""
    from db import clips as clip_store

    await _after_edit(conn, args, settings, await clip_store.merge(conn, args.clip))


async def cmd_clips_move_cut(
    conn: Connection, args: argparse.Namespace, settings: Settings
) -> None:
    """Move the cut between a clip and its successor."""
    from db import clips as clip_store

    result = await clip_store.move_cut(conn, args.clip, to_time(args.at, what="AT"))
    await _after_edit(conn, args, settings, result)


async def cmd_clips_export(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    """Queue a clip's export and, unless ``--no-wait``, follow it to the end."""
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
        print_json(export_json(export))
    elif export.status == "done":
        print(f"export {export.id}: {export.location} ({export.size_bytes} bytes)")
    else:
        print(f"export {export.id}: {export.status} ({export.file_name}); "
              f"follow it with GET /api/exports/{export.id}")  # fmt: skip
    if export.status == "failed":
        raise CliError(f"export {export.id} failed: {export.error}")


async def cmd_url(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    """Print a clip's current stream URL (signed when a key is set)."""
    if args.ttl is not None and args.ttl <= 0:
        raise CliError("--ttl must be a positive number of seconds")
    from db import clips as clip_store

    clip = await clip_store.get_clip(conn, args.clip)
    print(clip_stream_url(clip, settings.signing_key_list, args.ttl or DEFAULT_TTL_S))


def _positive_id(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an id: {raw!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"ids are positive integers, got {raw!r}")
    return value


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``clips`` commands and ``url``."""
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
