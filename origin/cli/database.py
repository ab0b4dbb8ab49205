"""``origin db``: apply the migrations, stop the private cluster."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from origin.cli.errors import CliError

if TYPE_CHECKING:
    from db.connection import Connection
    from origin.settings import Settings


async def cmd_db_up(conn: Connection, args: argparse.Namespace, settings: Settings) -> None:
    """Apply the migrations not applied yet."""
    from db.migrate import migrate

    applied = await migrate(conn)
    print("applied " + ", ".join(applied) if applied else "database is up to date")


def cmd_db_stop(args: argparse.Namespace, settings: Settings) -> None:
    """Stop the private cluster."""
    if settings.database_url:
        raise CliError("DATABASE_URL is set: there is no private cluster to stop")
    from db.embedded import private_cluster

    stopped = private_cluster(settings.home).stop()
    print("stopped the private cluster" if stopped else "the private cluster is not running")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``db up`` and ``db stop``."""
    db = commands.add_parser("db", help="database schema and the private cluster")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    db_commands.add_parser("up", help="apply migrations (idempotent)").set_defaults(db=cmd_db_up)
    db_commands.add_parser("stop", help="stop the private cluster").set_defaults(run=cmd_db_stop)
