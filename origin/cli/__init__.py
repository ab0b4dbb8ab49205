"""The ``origin`` command line (also ``python -m origin``).

One module per command group: ``services`` (serve, worker, demo), ``database``
(db), ``sources``, ``clips`` (and url); ``output`` prints rows, ``errors``
turns a failure into its one line. This module builds the parser from the
groups and runs the command.

User errors print one line, ``origin: error: …``, and exit 1; usage errors
exit 2 (argparse). Tracebacks are for bugs only.

Each command imports what it needs when it runs: ``origin serve`` starts
(and answers its first probe) without loading what only the other commands
use, such as the job queue's procrastinate or the registration's probing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from origin.cli import clips, database, services, sources
from origin.cli.errors import error_message
from origin.settings import Settings, settings_help

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from db.connection import Connection

    DbCommand = Callable[[Connection, argparse.Namespace, Settings], Awaitable[None]]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``origin`` command."""
    parser = argparse.ArgumentParser(
        prog="origin",
        description="Heaters Origin: virtual video clips served as standalone MP4 files.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (services, database, sources, clips):
        group.add_commands(commands)
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
