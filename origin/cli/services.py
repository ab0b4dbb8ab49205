"""The commands that run until stopped: ``origin serve``, ``origin worker``, ``origin demo``."""

from __future__ import annotations

import argparse
import gc
import os
from typing import TYPE_CHECKING

from origin.cli.errors import CliError
from origin.jobs import QUEUES

if TYPE_CHECKING:
    from origin.settings import Settings


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


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve``, ``worker`` and ``demo``."""
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
