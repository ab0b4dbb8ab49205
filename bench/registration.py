"""Registration of a two-hour source: reading only the ``moov`` against the full packet scan.

``.venv/bin/python -m bench.registration [--runs N] [--output PATH]`` (``make
bench``) generates a two-hour source once (bench/runner/long_source.py) and
times what ``origin sources add`` does to probe it, for a local file and for
the same file in S3 (moto's server mode on loopback, path-style, as the
tests use it):

- in this process, the probe registration runs (``origin.registration.examine``:
  the index when the file allows, plus the few bytes that judge its
  precision), with the bytes it read, and for the local files ffmpeg's full
  packet scan (``pool.sources.probe.probe``), which reads the whole file,
  and whether both give the same frame count, keyframes and duration;
- ``origin sources add URI --json`` end to end (a fresh interpreter, the
  probe, 720 clips stored in a private cluster), with the ``probe`` and
  ``probe_bytes`` it reports; each run registers a new name for the same
  bytes (a hard link, an S3 copy), as a source's URI is unique.

The benchmarks' 5-minute 1080p source gets the in-process rows too. It
replaces its own section of docs/benchmarks.md (or ``PATH``), between
``<!-- registration -->`` and ``<!-- /registration -->``. About a minute
on 2 CPUs once the source exists.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.report.page import section_main
from bench.report.registration import (
    BASELINE,
    BEGIN,
    CLI,
    END,
    INDEX,
    SCAN,
    Results,
    Row,
    render,
)
from bench.runner.long_source import ensure_long_source
from bench.runner.origin import private_cluster, workspace
from bench.runner.processes import free_port
from bench.runner.source import ensure_source
from origin.registration import examine
from pool.ffmpeg_binary import find_ffmpeg
from pool.mp4.boxes import file_reader
from pool.mp4.index import read_movie
from pool.sources.locations import SourceResolver
from pool.sources.probe import ProbeResult, probe

BUCKET = "bench-sources"
#: moto's credentials: any will do, but boto3 wants some.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _timed(function: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    """Seconds of ``runs`` calls, and what the last returned."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times, result


def _agree(a: ProbeResult, b: ProbeResult) -> bool:
    """Whether the index and the scan tell the same frames, keyframes and duration."""
    return (
        a.frame_count == b.frame_count
        and a.keyframes == b.keyframes
        and abs(a.duration - b.duration) < 1e-6
    )


def probe_rows(
    label: str, uri: str, resolver: SourceResolver, ffmpeg: str, runs: int, *, scan: bool
) -> list[Row]:
    """The in-process rows of one source: the registration's probe, and the packet scan."""
    source = resolver.open(uri)

    def examined() -> Any:
        with tempfile.TemporaryDirectory(prefix="bench-probe-") as work:
            return examine(source, source.stat(), ffmpeg, Path(work))

    times, result = _timed(examined, runs)
    size = source.stat().size_bytes
    rows = [Row(label, INDEX + f" (said `{result.probe}`)", times, result.probe_bytes, size)]
    if scan:
        scan_times, facts = _timed(lambda: probe(ffmpeg, source.ffmpeg_input()), runs)
        rows[0].agrees = _agree(result.facts, facts)
        rows.append(Row(label, SCAN, scan_times, size, size))
    return rows


def cli_row(label: str, env: Mapping[str, str], uris: Sequence[str], size: int) -> Row:
    """``origin sources add URI --json`` once per URI (each new): wall times and its report."""
    times, report = [], {}
    for uri in uris:
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "origin", "sources", "add", uri, "--json"],
            env=dict(env), check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        times.append(time.perf_counter() - start)
        report = json.loads(out)
    return Row(
        label, CLI + f" (said `{report['probe']}`, {len(report['clips'])} clips)", times,
        report["probe_bytes"], size,
    )  # fmt: skip


@contextlib.contextmanager
def links(source: Path, count: int) -> Iterator[list[str]]:
    """``count`` hard links to ``source`` beside it: new URIs, the same bytes and page cache."""
    folder = Path(tempfile.mkdtemp(prefix="registration-", dir=source.parent))
    try:
        paths = [folder / f"{i}-{source.name}" for i in range(count)]
        for path in paths:
            os.link(source, path)
        yield [str(p) for p in paths]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """moto's S3 server on loopback until the block ends: the environment that reaches it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per range request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {**S3_CREDENTIALS, "ORIGIN_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    finally:
        server.stop()


def s3_keys(resolver: SourceResolver, source: Path, count: int) -> list[str]:
    """Upload ``source`` once and copy it to ``count`` more keys: their ``s3://`` URIs."""
    from pool.sources.locations import s3_client

    client = s3_client(resolver.s3_endpoint_url)
    client.create_bucket(Bucket=BUCKET)
    client.upload_file(str(source), BUCKET, source.name)
    uris = [f"s3://{BUCKET}/{source.name}"]
    for i in range(count):
        key = f"{i}-{source.name}"
        client.copy_object(
            Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": source.name}
        )
        uris.append(f"s3://{BUCKET}/{key}")
    return uris


def sample_counts(source: Path) -> dict[str, int]:
    """Samples per track handler (``vide``, ``soun``) in ``source``'s index."""
    return {t.handler.decode(): len(t.samples) for t in read_movie(*file_reader(source)).tracks}


def measure(runs: int) -> Results:
    """Generate the source if needed, then every row, ``runs`` times each."""
    ffmpeg = find_ffmpeg(None)
    long, short = ensure_long_source(ffmpeg), ensure_source(ffmpeg)
    local = SourceResolver()
    size = long.stat().st_size
    samples = sample_counts(long)
    rows = probe_rows("2 h, local file", str(long), local, ffmpeg, runs, scan=True)
    rows += probe_rows("5 min 1080p, local file", str(short), local, ffmpeg, runs, scan=True)
    with workspace("origin-registration-") as work, private_cluster(work / "home") as env:
        # The cluster starts (and migrates) on the first command: not timed.
        listing = [sys.executable, "-m", "origin", "sources", "list", "--json"]
        subprocess.run(listing, env=env, check=True, capture_output=True)
        list_times, _ = _timed(
            lambda: subprocess.run(listing, env=env, check=True, capture_output=True), runs
        )
        rows.append(Row("(none)", BASELINE, list_times, 0, 1))
        with links(long, runs) as paths:
            rows.append(cli_row("2 h, local file", env, paths, size))
        with s3_server() as s3_env:
            os.environ.update(s3_env)  # boto3 in this process reads its credentials there
            remote = SourceResolver(s3_endpoint_url=s3_env["ORIGIN_S3_ENDPOINT_URL"])
            uris = s3_keys(remote, long, runs)
            rows += probe_rows("2 h, S3 (moto)", uris[0], remote, ffmpeg, runs, scan=False)
            rows.append(cli_row("2 h, S3 (moto)", {**env, **s3_env}, uris[1:], size))
    return Results(rows, runs, size, samples)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write its section of docs/benchmarks.md (or ``--output``)."""
    return section_main(
        argv, prog="python -m bench.registration", description=__doc__,
        repeats=("runs", 3, "runs per row"),
        measure=measure, render=render, begin=BEGIN, end=END,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
