"""Clip latency: the origin against raw ffmpeg and nginx's mp4 module, in one run.

``.venv/bin/python -m bench.clip_latency [--runs N] [--wrk-seconds S]`` (``make bench``)
cuts a 10 s and a 60 s clip of a generated 1080p source every way the project
cares about and overwrites docs/benchmarks.md with the medians. It starts three
origin servers (file mode with the edit list, file mode with the smart cut, pipe
mode), the private PostgreSQL cluster of a throwaway ORIGIN_HOME, and nginx,
all on 127.0.0.1, and stops every one of them in ``finally`` (Ctrl-C and
SIGTERM included). The full re-encode contender (at most 5 runs per clip)
adds about 2.5 min on 2 CPUs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import itertools
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import partial
from pathlib import Path
from types import FrameType

from pool.argv import build_clip_argv
from pool.cache import replace_into_place
from pool.cutting.editlist import trim_presentation
from pool.cutting.smart_cut import ENCODER, SmartCutReport, prepare
from pool.ffmpeg_binary import find_ffmpeg
from pool.request import ClipRequest, seconds_text
from pool.sources.probe import ProbeResult, probe
from pool.sources.sample import make_sample

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"

# 5 minutes of 1080p30 is what NOTES.md measured on; x264 veryfast makes it in
# about 2 min on 2 cores (measured: 129 s), once: the file is cached and reused.
SOURCE_SECONDS = 300
SOURCE_SIZE = "1920x1080"
SOURCE_FPS = 30
KEYFRAME_EVERY_S = 2.0
SOURCE = REPO / ".origin" / "bench" / f"source-1080p{SOURCE_FPS}-{SOURCE_SECONDS}s.mp4"

COLD_TARGET = 1.5  # origin cold (file mode, edit list) total ÷ raw ffmpeg
WARM_TARGET = 3.0  # origin warm total ÷ nginx mp4 module

RAW = "raw ffmpeg (the origin's argv + `+faststart`, to a file)"
FULL = "full re-encode of the clip (ffmpeg, x264 veryfast crf 16)"
COLD = "origin cold, file mode, edit list"
SMART = "origin cold, smart cut (default)"
WARM = "origin warm (cached)"
NGINX = "nginx mp4 module (`?start=&end=`)"
NGINX_KF = "nginx mp4 module, `mp4_start_key_frame on`"
PIPE = "origin cold, pipe mode"
CONTENDERS = (RAW, FULL, COLD, SMART, WARM, NGINX, NGINX_KF, PIPE)

# What a smart cut saves is set against re-encoding the whole clip at the
# quality its re-encoded frames get (crf 16, pool.smart_cut.ENCODER), with the
# preset and x264's defaults for B-frames and threads (all CPUs) one would use
# to re-encode a whole clip.
FULL_ENCODER = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "16")
# Seconds per run, so medians settle in a few runs; more would make the
# benchmark last ten minutes.
FULL_RUNS = 5

# The steps of a cold file-mode request after its cache miss, timed one by one.
CUT = "ffmpeg, the same argv"
TRIM = "exact edit lists, index first (`trim_presentation`)"
COMMIT = "commit (`replace_into_place`: rename into the cache)"
# The same for a cold smart-cut request (pool.clip_pool.ClipPool._smart_cut).
PREPARE = "`smart_cut.prepare` (index, plan, read the span, decoder inputs)"
ENCODE = "ffmpeg, `encode_argv` (decode + x264 of the re-encoded frames)"
ASSEMBLE = "`assemble` (write the MP4: re-encoded + copied samples)"


@dataclass(frozen=True)
class Span:
    """One clip to cut, ``[start, end)`` on the source's timeline; both start mid-GOP."""

    label: str
    start: Decimal
    end: Decimal


SPANS = (
    Span("10 s", Decimal("123.4"), Decimal("133.4")),
    Span("60 s", Decimal("63.4"), Decimal("123.4")),
)


@dataclass(frozen=True)
class Sample:
    """One timed fetch (or ffmpeg run): seconds to first body byte and to the last, bytes."""

    ttfb_s: float | None  # None where there is no response (raw ffmpeg)
    total_s: float
    size: int


# -- measuring -------------------------------------------------------------


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def _dechunked_size(body: bytes) -> int:
    """Payload bytes of a ``Transfer-Encoding: chunked`` body."""
    size = pos = 0
    while True:
        eol = body.index(b"\r\n", pos)
        length = int(body[pos:eol].split(b";")[0], 16)
        if length == 0:
            return size
        size += length
        pos = eol + 2 + length + 2


def fetch(port: int, target: str) -> Sample:
    """GET ``target`` on a fresh loopback connection; time the first body byte and the last.

    A raw socket rather than an HTTP library: reading 40 MB in 64 KiB pieces
    through Python-level parsing costs tens of milliseconds, which would hide
    the difference between two fast servers.
    """
    request = (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    ).encode()
    buf = bytearray(1 << 20)
    head = bytearray()
    header_end = -1
    status = 0
    length: int | None = None
    chunked: list[bytes] = []
    ttfb: float | None = None
    received = 0
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        while n := sock.recv_into(buf):
            data = memoryview(buf)[:n]
            if header_end < 0:
                head += data
                header_end = head.find(b"\r\n\r\n")
                if header_end < 0:
                    continue
                status, headers = _parse_head(bytes(head[:header_end]))
                if "content-length" in headers:
                    length = int(headers["content-length"])
                data = memoryview(bytes(head[header_end + 4 :]))
            if data and ttfb is None:
                ttfb = time.perf_counter() - start
            received += len(data)
            if length is None:
                chunked.append(bytes(data))  # decoded after the clock stops
            elif received >= length:
                break
        total = time.perf_counter() - start
    if status != 200:
        raise RuntimeError(f"GET {target} on port {port} answered {status}: {bytes(head)[:300]!r}")
    size = received if length is not None else _dechunked_size(b"".join(chunked))
    return Sample(ttfb, total, size)


def run_ffmpeg(argv: Sequence[str], output: Path) -> Sample:
    """Run one ffmpeg cut to ``output`` (deleted first, as the origin's temp is new) and time it."""
    output.unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return Sample(None, time.perf_counter() - start, output.stat().st_size)


def index_first(argv: list[str]) -> list[str]:
    """``argv`` writing an MP4 whose index comes first, as plain ffmpeg would."""
    at = argv.index("-f")
    return [*argv[:at], "-movflags", "+faststart", *argv[at:]]


def cold_steps(
    argv: Sequence[str], temp: Path, final: Path, duration: Fraction
) -> dict[str, float]:
    """Time, in this process, what a cold file-mode request runs between lookup and response.

    The origin's own functions, on the filesystem of its cache, so that their
    sum can be set against the measured cold total. ``argv`` writes ``temp``.
    """
    final.unlink(missing_ok=True)
    timings = {CUT: run_ffmpeg(argv, temp).total_s}
    for name, step in (
        (TRIM, partial(trim_presentation, temp, duration)),
        (COMMIT, partial(replace_into_place, temp, final)),
    ):
        start = time.perf_counter()
        step()
        timings[name] = time.perf_counter() - start
    return timings


def full_reencode_argv(ffmpeg: str, source: Path, span: Span, output: Path) -> list[str]:
    """Re-encode the whole clip, exact from ``start``: the cost a smart cut avoids."""
    return [
        ffmpeg, "-nostdin", "-v", "error",
        "-ss", seconds_text(span.start), "-i", f"file:{source}",
        "-t", seconds_text(span.end - span.start),
        "-map", "0:v:0", "-map", "0:a:0",
        *FULL_ENCODER, "-c:a", "copy",
        "-movflags", "+faststart", "-f", "mp4", "-y", f"file:{output}",
    ]  # fmt: skip


def smart_steps(
    ffmpeg: str, request: ClipRequest, work: Path
) -> tuple[dict[str, float], SmartCutReport]:
    """Time, in this process, what a cold smart-cut request runs between lookup and response.

    The origin's own functions in the order ``ClipPool._smart_cut`` calls
    them, with its work files in ``work`` (emptied first; the same filesystem
    as the servers' caches).
    """
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    names = itertools.count()

    def work_file() -> Path:
        path = work / f"{next(names)}.tmp"
        path.touch(exist_ok=False)
        return path

    temp, final = work / "clip.tmp", work / "clip.mp4"
    start = time.perf_counter()
    cut = prepare(ffmpeg, request, work_file)
    try:
        timings = {PREPARE: time.perf_counter() - start}
        argv = cut.encode_argv
        start = time.perf_counter()
        if argv is not None:
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
        timings[ENCODE] = time.perf_counter() - start
        start = time.perf_counter()
        report = cut.assemble(temp)
        timings[ASSEMBLE] = time.perf_counter() - start
    finally:
        cut.close()
    start = time.perf_counter()
    replace_into_place(temp, final)
    timings[COMMIT] = time.perf_counter() - start
    return timings, report


def run_wrk(port: int, target: str, seconds: int) -> float:
    """Requests per second that wrk (2 threads, 8 connections) gets from ``target``."""
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", f"http://127.0.0.1:{port}{target}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"wrk got {bad.group(1)} error answers from {target}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return float(match.group(1))


def median(values: Sequence[float]) -> float:
    """The median."""
    return statistics.median(values)


def p90(values: Sequence[float]) -> float:
    """The 90th percentile (inclusive interpolation)."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


# -- processes ---------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path, path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited; its log:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(OSError, RuntimeError):
            fetch(port, path)
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within 60 s; see {log}")


@contextlib.contextmanager
def background(
    argv: Sequence[str], *, port: int, log: Path, ready_path: str, env: Mapping[str, str]
) -> Iterator[None]:
    """Run a server until the block ends; it is ready once ``ready_path`` answers 200."""
    with log.open("wb") as out:
        # Its own session: a Ctrl-C reaches only us, and we stop it in order.
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=dict(env), start_new_session=True
        )
    try:
        _wait_listening(port, process, log, ready_path)
        yield
    finally:
        _stop(process)


NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    types {{ video/mp4 mp4; }}
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /source/ {{ alias {source_dir}/; mp4; }}
        location /source-kf/ {{ alias {source_dir}/; mp4; mp4_start_key_frame on; }}
        location /cache/ {{ alias {cache_dir}/; }}
    }}
}}
"""


def nginx(
    port: int, work: Path, source: Path, cache_dir: Path
) -> contextlib.AbstractContextManager[None]:
    """nginx serving ``source``'s directory with the mp4 module, ``cache_dir`` as plain files."""
    work.mkdir()
    conf = work / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(work=work, port=port, source_dir=source.parent, cache_dir=cache_dir)
    )
    argv = ["nginx", "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")]
    return background(
        argv,
        port=port,
        log=work / "stdout.log",
        ready_path=f"/source/{source.name}?start=0&end=0.1",
        env=os.environ,
    )


# -- the source ----------------------------------------------------------------


def ensure_source(ffmpeg: str) -> Path:
    """Generate the source once; later runs reuse the cached file."""
    if not SOURCE.exists():
        print(f"generating {SOURCE} ({SOURCE_SECONDS} s of {SOURCE_SIZE}) …", file=sys.stderr)
        started = time.monotonic()
        make_sample(
            ffmpeg,
            SOURCE,
            duration_s=SOURCE_SECONDS,
            size=SOURCE_SIZE,
            fps=SOURCE_FPS,
            keyframe_every_s=KEYFRAME_EVERY_S,
            bframes=True,
        )
        print(f"  took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return SOURCE


def _first_line(argv: Sequence[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).strip().splitlines()[0]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown"


# -- the run -------------------------------------------------------------------


@dataclass
class Results:
    """Everything the report needs."""

    samples: dict[tuple[str, str], list[Sample]]  # (span label, contender) → samples
    wrk: dict[tuple[str, str], tuple[float, int]]  # (span label, server) → (req/s, bytes)
    steps: dict[tuple[str, str], list[float]]  # (span label, cold step) → seconds
    smart_steps: dict[tuple[str, str], list[float]]  # (span label, smart-cut step) → seconds
    reencoded_s: dict[str, float]  # span label → seconds of the clip the smart cut re-encodes
    runs: int
    wrk_seconds: int


def _cache_cleaner(cache_dir: Path, clip_id: int, form: str) -> Callable[[], None]:
    # Deleting the finished file behind the server's back is how each request
    # is made cold: ClipCache.lookup() stats the path and treats a missing
    # file as a miss (pool/cache.py), so the next GET cuts again. The file is
    # ``<ClipRequest.cache_key>.mp4``, the key ``c<id>-v<version>-<form>-<hash>``
    # (form: file, smart or pipe); the hash covers the server's source identity.
    def clean() -> None:
        for path in cache_dir.glob(f"c{clip_id}-v*-{form}-*.mp4"):
            path.unlink()

    return clean


def _logged(log: Path, event: str, **fields: str) -> int:
    """How many of a server's JSON log lines are ``event`` with these field values."""
    count = 0
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == event:
                count += all(record.get(k) == v for k, v in fields.items())
    return count


def _check_cold(log: Path, expected: int, event: str, **fields: str) -> None:
    """Fail unless the server logged one cut per cold request: none was served from its cache."""
    got = _logged(log, event, **fields)
    if got != expected:
        raise RuntimeError(f"{log.name}: {got} {event} {fields} lines, {expected} cold requests")


def fetch_cold(port: int, target: str, clean: Callable[[], None]) -> Sample:
    """Empty the server's cache of this clip, then :func:`fetch` it."""
    clean()
    return fetch(port, target)


def _origin_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORIGIN_")}
    env.pop("DATABASE_URL", None)  # unset → the private cluster under ORIGIN_HOME
    env.update(ORIGIN_HOME=str(home), ORIGIN_SHUTDOWN_GRACE_S="1", **extra)
    return env


def register(env: Mapping[str, str], source: Path) -> dict[Span, str]:
    """Register ``source`` cut at every span's edges; return each span's stream path."""
    cuts = sorted({t for s in SPANS for t in (s.start, s.end)})
    out = subprocess.run(
        [sys.executable, "-m", "origin", "sources", "add", str(source), "--json",
         "--cuts", ",".join(str(c) for c in cuts)],
        env=dict(env), check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    clips = json.loads(out)["clips"]
    urls: dict[Span, str] = {}
    for span in SPANS:
        match = [c for c in clips if Decimal(str(c["start"])) == span.start]
        urls[span] = match[0]["url"]
    return urls


def measure(runs: int, wrk_seconds: int) -> tuple[Results, ProbeResult]:
    """Start everything, time every contender ``runs`` times per span, stop everything."""
    ffmpeg = find_ffmpeg(None)
    source = ensure_source(ffmpeg)
    facts = probe(ffmpeg, "file:" + str(source))
    results = Results({}, {}, {}, {}, {}, runs, wrk_seconds)
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="origin-bench-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        # The postgres user (the cluster, when we are root) and nginx's workers
        # (nobody) must reach inside.
        work.chmod(0o755)
        home, file_cache = work / "home", work / "cache-file"
        smart_cache, pipe_cache = work / "cache-smart", work / "cache-pipe"
        env = _origin_env(home)
        stack.callback(
            subprocess.run,
            [sys.executable, "-m", "origin", "db", "stop"],
            env=env, check=False, capture_output=True, timeout=120,
        )  # fmt: skip
        urls = register(env, source)
        file_port, smart_port, pipe_port = free_port(), free_port(), free_port()
        nginx_port = free_port()
        serve = [sys.executable, "-m", "origin", "serve", "--port"]
        # Precision is explicit on both file-mode servers: the default is smart.
        file_env = _origin_env(
            home, ORIGIN_CACHE_DIR=str(file_cache), ORIGIN_STREAM_MODE="file",
            ORIGIN_PRECISION="editlist",
        )  # fmt: skip
        smart_env = _origin_env(
            home, ORIGIN_CACHE_DIR=str(smart_cache), ORIGIN_STREAM_MODE="file",
            ORIGIN_PRECISION="smart",
        )  # fmt: skip
        pipe_env = _origin_env(home, ORIGIN_CACHE_DIR=str(pipe_cache), ORIGIN_STREAM_MODE="pipe")
        logs = {name: work / f"origin-{name}.log" for name in ("file", "smart", "pipe")}
        for port, name, server_env in (
            (file_port, "file", file_env),
            (smart_port, "smart", smart_env),
            (pipe_port, "pipe", pipe_env),
        ):
            stack.enter_context(background(
                [*serve, str(port)], port=port, log=logs[name], ready_path="/healthz",
                env=server_env,
            ))  # fmt: skip
        stack.enter_context(nginx(nginx_port, work / "nginx", source, file_cache))

        for span in SPANS:
            url = urls[span]
            clip_id = int(url.split("/")[3])
            raw_out = work / "raw.mp4"
            request = ClipRequest(
                clip_id=clip_id, version=1, source_input="file:" + str(source),
                source_identity="bench", start=span.start, end=span.end, mode="file",
            )  # fmt: skip
            argv = index_first(build_clip_argv(ffmpeg, request, "file:" + str(raw_out)))
            smart_request = dataclasses.replace(request, precision="smart")
            nginx_url = f"/source/{source.name}?start={span.start}&end={span.end}"
            step_argv = build_clip_argv(ffmpeg, request, "file:" + str(work / "step.tmp"))
            breakdown = partial(
                cold_steps,
                step_argv,
                work / "step.tmp",
                work / "step.mp4",
                Fraction(request.duration),
            )

            steps: dict[str, Callable[[], Sample]] = {
                RAW: partial(run_ffmpeg, argv, raw_out),
                COLD: partial(
                    fetch_cold, file_port, url, _cache_cleaner(file_cache, clip_id, "file")
                ),
                SMART: partial(
                    fetch_cold, smart_port, url, _cache_cleaner(smart_cache, clip_id, "smart")
                ),
                WARM: partial(fetch, file_port, url),
                NGINX: partial(fetch, nginx_port, nginx_url),
                NGINX_KF: partial(fetch, nginx_port, nginx_url.replace("/source/", "/source-kf/")),
                PIPE: partial(
                    fetch_cold, pipe_port, url, _cache_cleaner(pipe_cache, clip_id, "pipe")
                ),
            }
            for step in steps.values():  # warm-up, not recorded: imports, page cache, pools
                step()
            names = list(steps)
            for i in range(runs):
                # Interleaved, in a rotating order, so drift and noise spread evenly.
                order = names[i % len(names) :] + names[: i % len(names)]
                for name in order:
                    results.samples.setdefault((span.label, name), []).append(steps[name]())
                for name, seconds in breakdown().items():
                    results.steps.setdefault((span.label, name), []).append(seconds)
                smart_timings, report = smart_steps(ffmpeg, smart_request, work / "smart-steps")
                for name, seconds in smart_timings.items():
                    results.smart_steps.setdefault((span.label, name), []).append(seconds)
                results.reencoded_s[span.label] = report.reencoded_s
                print(f"{span.label} clip: run {i + 1}/{runs}", file=sys.stderr)

            if wrk_seconds > 0 and shutil.which("wrk"):
                steps[WARM]()  # make sure the cached file is there for both
                cached = next(file_cache.glob(f"c{clip_id}-v*.mp4"))
                for server, port, target in (
                    ("origin (warm)", file_port, url),
                    ("nginx mp4 module", nginx_port, nginx_url),
                    ("nginx, the origin's cached file as a static file", nginx_port,
                     f"/cache/{cached.name}"),
                ):  # fmt: skip
                    body = fetch(port, target).size
                    results.wrk[(span.label, server)] = (run_wrk(port, target, wrk_seconds), body)

        # The full re-encodes last, each span's runs in a row: one keeps both
        # CPUs busy for seconds and leaves tens of MB to write back, and in the
        # rotation the same fast contender would follow it nearly every time.
        # No warm-up: the rows above have just read the same spans.
        full_out = work / "full.mp4"
        for span in SPANS:
            full_argv = full_reencode_argv(ffmpeg, source, span, full_out)
            for i in range(min(runs, FULL_RUNS)):
                sample = run_ffmpeg(full_argv, full_out)
                results.samples.setdefault((span.label, FULL), []).append(sample)
                print(f"{span.label} clip, full re-encode: run {i + 1}", file=sys.stderr)

        cold_requests = len(SPANS) * (runs + 1)  # the warm-up pass is cold too
        _check_cold(logs["file"], cold_requests, "ffmpeg_run", mode="file", outcome="ok")
        _check_cold(logs["smart"], cold_requests, "smart_cut")
        _check_cold(logs["pipe"], cold_requests, "ffmpeg_run", mode="pipe", outcome="ok")
    return results, facts


# -- the report ------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    size = abs(ms)  # the "unaccounted" rows can be negative
    if size >= 1000:  # the full re-encodes
        return f"{seconds:.1f} s" if size >= 10_000 else f"{seconds:.2f} s"
    return f"{ms:.0f} ms" if size >= 100 else f"{ms:.1f} ms" if size >= 10 else f"{ms:.2f} ms"


HANDLING = "HTTP + DB lookups + stat, no ffmpeg (the warm row's TTFB)"
SENDING = "sending the file (warm total - warm TTFB)"
SUM = "**sum of the above**"
MEASURED = "**measured cold total** (file mode, edit list)"
SMART_MEASURED = "**measured cold total** (smart cut)"
REST = "unaccounted (event loop, threads, start-up polling, page cache)"


def _verdict(ratio: float, target: float) -> str:
    return "**PASS**" if ratio <= target else "**FAIL**"


def _total(results: Results, span: Span, name: str, ttfb: bool = False) -> float:
    """Median total (or TTFB) of one contender on one span."""
    samples = results.samples[(span.label, name)]
    return median([(s.ttfb_s or 0.0) if ttfb else s.total_s for s in samples])


def _breakdown_rows(
    results: Results,
    steps: dict[tuple[str, str], list[float]],
    names: Sequence[str],
    measured: tuple[str, str],
) -> list[str]:
    """A table of step medians per span, the HTTP share from the warm row, and their sum
    against ``measured`` (row label, contender): what the steps do not account for."""
    label, contender = measured
    out = [
        "| step (medians) | " + " | ".join(s.label for s in SPANS) + " |",
        "|---|" + "--:|" * len(SPANS),
    ]
    columns: list[dict[str, float]] = []
    for span in SPANS:
        col = {name: median(steps[(span.label, name)]) for name in names}
        col[HANDLING] = _total(results, span, WARM, ttfb=True)
        col[SENDING] = _total(results, span, WARM) - col[HANDLING]
        col[SUM] = sum(col.values())
        col[label] = _total(results, span, contender)
        col[REST] = col[label] - col[SUM]
        columns.append(col)
    for name in (*names, HANDLING, SENDING, SUM, label, REST):
        out.append(f"| {name} | " + " | ".join(_ms(c[name]) for c in columns) + " |")
    return out


def _smart_section(results: Results) -> list[str]:
    """ "Smart cut: cold cost": against the edit list and a full re-encode, then its steps."""
    out = [
        "## Smart cut: cold cost",
        "",
        "A smart cut (`ORIGIN_PRECISION=smart`, the default) re-encodes the frames before the "
        f"clip's first keyframe (and a few at its end) with `{' '.join(ENCODER)}` and "
        "stream-copies the rest; the edit-list cut copies everything and hides the pre-roll. "
        "Total medians of the rows above; warm requests are the same either way (a cached file).",
        "",
        "| clip | edit list, cold (origin) | smart cut, cold (origin) "
        "| full re-encode (raw ffmpeg) | smart ÷ edit list | smart ÷ full re-encode "
        "| re-encoded by the smart cut |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for span in SPANS:
        editlist, smart, full = (_total(results, span, n) for n in (COLD, SMART, FULL))
        out.append(
            f"| {span.label} | {_ms(editlist)} | {_ms(smart)} | {_ms(full)} "
            f"| {smart / editlist:.2f}x | {smart / full:.3f}x "
            f"| {results.reencoded_s[span.label]:.2f} s of {span.label} |"
        )
    out += [
        "",
        "### Where the smart cut's time goes",
        "",
        "The steps of `ClipPool._smart_cut` and the commit, timed one by one in the benchmark's "
        "own process (`pool.smart_cut.prepare`, the ffmpeg run of `encode_argv`, `assemble`, "
        "`replace_into_place`; work files on the caches' filesystem). HTTP and sending are the "
        "edit-list warm row's, as in the section above.",
        "",
    ]
    out += _breakdown_rows(
        results, results.smart_steps, (PREPARE, ENCODE, ASSEMBLE, COMMIT), (SMART_MEASURED, SMART)
    )
    out.append("")
    return out


def render(results: Results, facts: ProbeResult, elapsed_s: float, ffmpeg: str) -> str:
    """The whole of docs/benchmarks.md."""
    size = SOURCE.stat().st_size
    gaps = [b - a for a, b in zip(facts.keyframes, facts.keyframes[1:], strict=False)]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`.venv/bin/python -m bench.clip_latency "
        f"--runs {results.runs}`) on {now}; the run took {elapsed_s:.0f} s. "
        "Rerun it rather than editing this file.",
        "",
        "## Method",
        "",
        f"- **Machine**: {len(os.sched_getaffinity(0))} CPUs (`nproc`), {_cpu_model()}; "
        f"{_first_line([ffmpeg, '-version'])} (the origin's own, from the `imageio-ffmpeg` wheel); "
        f"{_first_line(['nginx', '-v'])}.",
        f"- **Source**: `pool.sample.make_sample`, {facts.width}x{facts.height} {SOURCE_FPS} fps "
        f"{facts.video_codec} (x264 `veryfast`, B-frames on) + {facts.audio_codec}, "
        f"{facts.duration:.1f} s, keyframe every {median(gaps):.1f} s, "
        f"{size / 1e6:.1f} MB ({size * 8 / facts.duration / 1e6:.1f} Mb/s), `+faststart`. "
        f"Generated once (about 2 min on 2 CPUs) into `{SOURCE.relative_to(REPO)}` and reused.",
        "- **Clips**: "
        + ", ".join(f"{s.label} `[{s.start}, {s.end})`" for s in SPANS)
        + "; both start mid-GOP, so the copy starts at the keyframe before the cut.",
        "- **Contenders**, each run once per iteration in a rotating order (after one unrecorded "
        "warm-up pass), all on 127.0.0.1, except the full re-encode: it runs after all the "
        "others, its runs in a row, so that its seconds of full CPU do not land before the "
        "same fast contender in every rotation:",
        f'  - *{RAW}*: `pool.argv.build_clip_argv` for a `mode="file"` request, with '
        "`-movflags +faststart` so that ffmpeg alone writes what the origin serves, an MP4 "
        "with its index first (the origin's own argv leaves that pass to "
        "`trim_presentation`, which writes the exact index first in its one copy), run as "
        "a subprocess end to end. The cold baseline: no HTTP, no edit lists, no rename.",
        f"  - *{FULL}*: `ffmpeg -ss <start> -i <source> -t <duration>` with "
        f"`{' '.join(FULL_ENCODER)} -c:a copy -movflags +faststart` to a file, run as a "
        "subprocess end to end: what the smart cut avoids. x264's default threads (all CPUs) "
        "and B-frames; the smart cut's own encoder has `-bf 0 -threads 2`.",
        f"  - *{COLD}*: `python -m origin serve` with `ORIGIN_PRECISION=editlist` (1 uvicorn "
        "worker, private PostgreSQL cluster), full GET of the clip URL after deleting the "
        "cached file (`ClipCache.lookup` treats a deleted file as a miss), so every request "
        "stream-copies, writes exact edit lists and the index first, renames the file into the "
        "cache and sends it.",
        f"  - *{SMART}*: a second file-mode server with `ORIGIN_PRECISION=smart` (the default), "
        "the same database and its own cache directory, cache file deleted before each request, "
        "so every request runs `pool.cutting.smart_cut` (plan, x264 for the frames before "
        "the first keyframe and a few at the end, copy the rest, write the MP4), renames and "
        "sends.",
        f"  - *{WARM}*: the edit-list URL again, served from the cache.",
        f"  - *{NGINX}*: nginx `mp4;` on the source directory (`sendfile on`, 1 worker). It has no "
        "clip cache, so every request re-reads the index; the source is in the page cache, as "
        "it is for the origin. The warm target is measured against this row.",
        f"  - *{NGINX_KF}*: the same with the key-frame pre-roll and an edit list, like the "
        "origin's output (like-for-like bytes).",
        f"  - *{PIPE}*: a third server with `ORIGIN_STREAM_MODE=pipe` and its own cache "
        "directory, cache file deleted before each request (fragmented MP4, chunked).",
        "  - After the runs, each server's log must show one cut (`ffmpeg_run`, or `smart_cut` "
        "with no fallback) per cold request, or the benchmark fails.",
        "- **Client**: a raw socket, a fresh connection per request (`Connection: close`). "
        "TTFB = first *body* byte; total = last byte.",
        f"- Figures are **medians (and p90) of {results.runs} runs** ("
        f"{min(results.runs, FULL_RUNS)} for the full re-encode). The machine is small and "
        "shared: **ratios matter more than absolutes**.",
        "",
        "## Latency",
        "",
    ]
    for span in SPANS:
        out += [
            f"### {span.label} clip `[{span.start}, {span.end})`",
            "",
            "| contender | TTFB median | TTFB p90 | total median | total p90 | bytes |",
            "|---|--:|--:|--:|--:|--:|",
        ]
        for name in CONTENDERS:
            samples = results.samples[(span.label, name)]
            ttfbs = [s.ttfb_s for s in samples if s.ttfb_s is not None]
            totals = [s.total_s for s in samples]
            out.append(
                f"| {name} | {_ms(median(ttfbs) if ttfbs else None)} "
                f"| {_ms(p90(ttfbs) if ttfbs else None)} | {_ms(median(totals))} "
                f"| {_ms(p90(totals))} | {samples[-1].size:,} |"
            )
        ours = results.samples[(span.label, COLD)][-1].size
        theirs = results.samples[(span.label, NGINX)][-1].size
        out += [
            "",
            f"The origin sends {(ours - theirs) / 1e6:.2f} MB ({ours / theirs - 1:.0%}) more than "
            "nginx: its copy starts at the keyframe before the cut and an edit list hides the "
            "pre-roll, so the first frame is exact; plain nginx starts at the sample at `start`, "
            "a non-keyframe, so the start of its video is broken (nginx's docs, NOTES.md). "
            "With `mp4_start_key_frame on` nginx also sends the pre-roll behind an edit list.",
            "",
        ]

    out += [
        "## Targets",
        "",
        "| ratio (of total medians) | clip | value | target | result |",
        "|---|---|--:|--:|---|",
    ]
    for span in SPANS:
        total = partial(_total, results, span)
        cold = total(COLD) / total(RAW)
        warm = total(WARM) / total(NGINX)
        smart = total(SMART) / total(COLD)
        out.append(
            f"| origin cold (file, edit list) ÷ raw ffmpeg | {span.label} | {cold:.2f}x "
            f"| ≤ {COLD_TARGET}x | {_verdict(cold, COLD_TARGET)} |"
        )
        out.append(
            f"| origin warm ÷ nginx mp4 | {span.label} | {warm:.2f}x | ≤ {WARM_TARGET}x "
            f"| {_verdict(warm, WARM_TARGET)} |"
        )
        out.append(
            f"| origin cold, smart cut ÷ edit list | {span.label} | {smart:.2f}x | — "
            "| informational |"
        )
    out.append("")

    out += [
        "## Where the cold time goes (file mode, edit list)",
        "",
        "The steps of an edit-list cut (`ORIGIN_PRECISION=editlist`) after the cache miss, timed "
        "one by one in the benchmark's own process with the origin's functions (same filesystem "
        "as its cache), next to what the HTTP rows imply.",
        "",
    ]
    out += _breakdown_rows(results, results.steps, (CUT, TRIM, COMMIT), (MEASURED, COLD))
    out.append("")
    out += _smart_section(results)

    if results.wrk:
        out += [
            f"## Warm throughput (wrk, 2 threads, 8 connections, {results.wrk_seconds} s)",
            "",
            "The client shares the 2 CPUs with the server under test.",
            "",
            "| clip | server | requests/s | throughput | vs nginx mp4 |",
            "|---|---|--:|--:|--:|",
        ]
        for span in SPANS:
            rows = {k[1]: v for k, v in results.wrk.items() if k[0] == span.label}
            base = rows["nginx mp4 module"]
            for server, (rps, body) in rows.items():
                out.append(
                    f"| {span.label} | {server} | {rps:,.1f} | {rps * body / 1e9:.2f} GB/s "
                    f"| {rps * body / (base[0] * base[1]):.2f} |"
                )
        out.append("")
    return "\n".join(out)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the `finally`s that stop our processes


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write docs/benchmarks.md."""
    parser = argparse.ArgumentParser(prog="python -m bench.clip_latency", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="iterations per clip (default 15)")
    parser.add_argument(
        "--wrk-seconds", type=int, default=10, help="wrk duration per server; 0 skips (default 10)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    started = time.monotonic()
    try:
        results, facts = measure(args.runs, args.wrk_seconds)
    except KeyboardInterrupt:
        return 130
    report = render(results, facts, time.monotonic() - started, find_ffmpeg(None))
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
