"""Clip latency: the origin against raw ffmpeg and nginx's mp4 module, in one run.

``.venv/bin/python -m bench.clip_latency [--runs N] [--wrk-seconds S]`` (``make bench``)
cuts a 10 s and a 60 s clip of a generated 1080p source every way the project
cares about and overwrites docs/benchmarks.md with the medians. It starts two
origin servers (file and pipe mode), the private PostgreSQL cluster of a
throwaway ORIGIN_HOME, and nginx, all on 127.0.0.1, and stops every one of them
in ``finally`` (Ctrl-C and SIGTERM included).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
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
from pool.ffmpeg_binary import find_ffmpeg
from pool.mp4_editlist import trim_presentation
from pool.probe import ProbeResult, probe
from pool.request import ClipRequest
from pool.sample import make_sample

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"

# 5 minutes of 1080p30 is what NOTES.md measured on; x264 veryfast makes it in
# about 2 min on 2 cores (measured: 129 s), once: the file is cached and reused.
SOURCE_SECONDS = 300
SOURCE_SIZE = "1920x1080"
SOURCE_FPS = 30
KEYFRAME_EVERY_S = 2.0
SOURCE = REPO / ".origin" / "bench" / f"source-1080p{SOURCE_FPS}-{SOURCE_SECONDS}s.mp4"

COLD_TARGET = 1.5  # origin cold (file mode) total ÷ raw ffmpeg
WARM_TARGET = 3.0  # origin warm total ÷ nginx mp4 module

RAW = "raw ffmpeg (the origin's argv, to a file)"
COLD = "origin cold, file mode"
WARM = "origin warm (cached)"
NGINX = "nginx mp4 module (`?start=&end=`)"
NGINX_KF = "nginx mp4 module, `mp4_start_key_frame on`"
PIPE = "origin cold, pipe mode"
CONTENDERS = (RAW, COLD, WARM, NGINX, NGINX_KF, PIPE)

# The steps of a cold file-mode request after its cache miss, timed one by one.
CUT = "ffmpeg, the same argv"
TRIM = "trim the edit list (`trim_presentation`, in place)"
COMMIT = "commit (`replace_into_place`: rename into the cache)"


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
    runs: int
    wrk_seconds: int


def _cache_cleaner(cache_dir: Path, clip_id: int) -> Callable[[], None]:
    # Deleting the finished file behind the server's back is how each request
    # is made cold: ClipCache.lookup() stats the path and treats a missing
    # file as a miss (pool/cache.py), so the next GET cuts again.
    def clean() -> None:
        for path in cache_dir.glob(f"c{clip_id}-v*.mp4"):
            path.unlink()

    return clean


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
    results = Results({}, {}, {}, runs, wrk_seconds)
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="origin-bench-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        # The postgres user (the cluster, when we are root) and nginx's workers
        # (nobody) must reach inside.
        work.chmod(0o755)
        home, file_cache, pipe_cache = work / "home", work / "cache-file", work / "cache-pipe"
        env = _origin_env(home)
        stack.callback(
            subprocess.run,
            [sys.executable, "-m", "origin", "db", "stop"],
            env=env, check=False, capture_output=True, timeout=120,
        )  # fmt: skip
        urls = register(env, source)
        file_port, pipe_port, nginx_port = free_port(), free_port(), free_port()
        serve = [sys.executable, "-m", "origin", "serve", "--port"]
        file_env = _origin_env(home, ORIGIN_CACHE_DIR=str(file_cache), ORIGIN_STREAM_MODE="file")
        pipe_env = _origin_env(home, ORIGIN_CACHE_DIR=str(pipe_cache), ORIGIN_STREAM_MODE="pipe")
        stack.enter_context(background(
            [*serve, str(file_port)], port=file_port, log=work / "origin-file.log",
            ready_path="/healthz", env=file_env,
        ))  # fmt: skip
        stack.enter_context(background(
            [*serve, str(pipe_port)], port=pipe_port, log=work / "origin-pipe.log",
            ready_path="/healthz", env=pipe_env,
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
            argv = build_clip_argv(ffmpeg, request, "file:" + str(raw_out))
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
                COLD: partial(fetch_cold, file_port, url, _cache_cleaner(file_cache, clip_id)),
                WARM: partial(fetch, file_port, url),
                NGINX: partial(fetch, nginx_port, nginx_url),
                NGINX_KF: partial(fetch, nginx_port, nginx_url.replace("/source/", "/source-kf/")),
                PIPE: partial(fetch_cold, pipe_port, url, _cache_cleaner(pipe_cache, clip_id)),
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
    return results, facts


# -- the report ------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


HANDLING = "HTTP + DB lookups + stat, no ffmpeg (the warm row's TTFB)"
SENDING = "sending the file (warm total - warm TTFB)"
SUM = "**sum of the above**"
MEASURED = "**measured cold total** (file mode)"
REST = "unaccounted (event loop, threads, start-up polling, page cache)"


def _verdict(ratio: float, target: float) -> str:
    return "**PASS**" if ratio <= target else "**FAIL**"


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
        "warm-up pass), all on 127.0.0.1:",
        f'  - *{RAW}*: `pool.argv.build_clip_argv` for a `mode="file"` request, run as a '
        "subprocess end to end. The cold baseline: no HTTP, no trim, no rename.",
        f"  - *{COLD}*: `python -m origin serve` (1 uvicorn worker, private PostgreSQL cluster), "
        "full GET of the clip URL after deleting the cached file (`ClipCache.lookup` treats a "
        "deleted file as a miss), so every request cuts, trims the edit list, renames the file "
        "into the cache and sends it.",
        f"  - *{WARM}*: the same URL again, served from the cache.",
        f"  - *{NGINX}*: nginx `mp4;` on the source directory (`sendfile on`, 1 worker). It has no "
        "clip cache, so every request re-reads the index; the source is in the page cache, as "
        "it is for the origin. The warm target is measured against this row.",
        f"  - *{NGINX_KF}*: the same with the key-frame pre-roll and an edit list, like the "
        "origin's output (like-for-like bytes).",
        f"  - *{PIPE}*: a second server with `ORIGIN_STREAM_MODE=pipe` and its own cache "
        "directory, cache file deleted before each request (fragmented MP4, chunked).",
        "- **Client**: a raw socket, a fresh connection per request (`Connection: close`). "
        "TTFB = first *body* byte; total = last byte.",
        f"- Figures are **medians (and p90) of {results.runs} runs**. The machine is small and "
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

        def total(name: str, span: Span = span) -> float:
            return median([s.total_s for s in results.samples[(span.label, name)]])

        cold = total(COLD) / total(RAW)
        warm = total(WARM) / total(NGINX)
        out.append(
            f"| origin cold (file) ÷ raw ffmpeg | {span.label} | {cold:.2f}x | ≤ {COLD_TARGET}x "
            f"| {_verdict(cold, COLD_TARGET)} |"
        )
        out.append(
            f"| origin warm ÷ nginx mp4 | {span.label} | {warm:.2f}x | ≤ {WARM_TARGET}x "
            f"| {_verdict(warm, WARM_TARGET)} |"
        )
    out.append("")

    out += [
        "## Where the cold time goes (file mode)",
        "",
        "The steps after the cache miss, timed one by one in the benchmark's own process with the "
        "origin's functions (same filesystem as its cache), next to what the HTTP rows imply.",
        "",
        "| step (medians) | " + " | ".join(s.label for s in SPANS) + " |",
        "|---|" + "--:|" * len(SPANS),
    ]
    columns: list[dict[str, float]] = []
    for span in SPANS:

        def med(name: str, span: Span = span, ttfb: bool = False) -> float:
            samples = results.samples[(span.label, name)]
            return median([(s.ttfb_s or 0.0) if ttfb else s.total_s for s in samples])

        col = {name: median(results.steps[(span.label, name)]) for name in (CUT, TRIM, COMMIT)}
        col[HANDLING] = med(WARM, ttfb=True)
        col[SENDING] = med(WARM) - med(WARM, ttfb=True)
        col[SUM] = sum(col.values())
        col[MEASURED] = med(COLD)
        col[REST] = col[MEASURED] - col[SUM]
        columns.append(col)
    for name in (CUT, TRIM, COMMIT, HANDLING, SENDING, SUM, MEASURED, REST):
        out.append(f"| {name} | " + " | ".join(_ms(c[name]) for c in columns) + " |")
    out.append("")

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
